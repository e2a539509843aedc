using System.Text.RegularExpressions;
using TorchSharp.PyBridge;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using static TorchSharp.torch;

namespace Uncertainty.Model.Packaging;

/// <summary>
/// Weights trained in PyTorch, as safetensors (tensors and a JSON header, nothing executable), loaded
/// into a network of the given spec. Tensors are matched by our names (layers.{i}.weight, ...) or, for a
/// network without normalisation layers, by order: the file's 2-D ".weight" tensors sorted by their
/// numeric prefix (an nn.Sequential's 0.weight, 3.weight, ...) become our Linear layers in order, each with
/// the ".bias" beside it. Every shape must match. Pickle-based files (torch.save) are refused: unpickling
/// runs code chosen by whoever wrote the file.
/// </summary>
public static partial class SafetensorsImport
{
    public const string PickleRefusal =
        "PyTorch pickle files (.pt, .pth, .pkl, torch.save) can run arbitrary code when loaded, so they are not accepted. " +
        "Export the weights with safetensors instead: from safetensors.torch import save_file; save_file(model.state_dict(), 'model.safetensors').";

    /// <summary>Throws <see cref="InvalidDataException"/> when <paramref name="head"/> (the file's first bytes) or its name says pickle.</summary>
    public static void RejectPickle(ReadOnlySpan<byte> head, string fileName)
    {
        var extension = Path.GetExtension(fileName).ToLowerInvariant();
        bool pickleName = extension is ".pt" or ".pth" or ".pkl" or ".pickle" or ".ckpt";
        bool pickleProtocol = head.Length >= 2 && head[0] == 0x80 && head[1] is >= 2 and <= 5;
        bool zipArchive = head.Length >= 4 && head[..4].SequenceEqual("PK\u0003\u0004"u8); // torch.save's default format: a zip of pickles
        if (pickleName || pickleProtocol || zipArchive)
        {
            throw new InvalidDataException(PickleRefusal);
        }
    }

    /// <summary>A package from safetensors <paramref name="weights"/> and <paramref name="description"/> (whose spec shapes the network).</summary>
    public static ModelPackage Import(Stream weights, ModelDescription description)
    {
        TorchBackend.EnsureInitialized();
        var header = new byte[16];
        var read = weights.ReadAtLeast(header, header.Length, throwOnEndOfStream: false);
        RejectPickle(header.AsSpan(0, read), "");
        weights.Position = 0;

        Dictionary<string, Tensor> tensors;
        try
        {
            tensors = Safetensors.LoadStateDict(weights, leaveOpen: true, keysToKeep: null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"The file is not valid safetensors: {e.Message}", e);
        }

        var network = new DropoutMlp(description.Network);
        try
        {
            var ours = network.state_dict();
            var mapping = MatchByName(ours.Keys, tensors.Keys) ?? MatchByOrder(description.Network, ours.Keys, tensors)
                ?? throw new InvalidDataException(
                    $"The tensors ({string.Join(", ", tensors.Keys.Order(StringComparer.Ordinal))}) match neither the network's names " +
                    $"({string.Join(", ", ours.Keys)}) nor, by order, its Linear layers.");
            using (no_grad())
            {
                foreach (var (name, source) in mapping)
                {
                    var target = ours[name];
                    var given = tensors[source];
                    if (!target.shape.SequenceEqual(given.shape))
                    {
                        throw new InvalidDataException($"Tensor '{source}' has shape [{string.Join(", ", given.shape)}]; '{name}' of the network needs [{string.Join(", ", target.shape)}].");
                    }

                    target.copy_(given.to_type(target.dtype));
                }
            }

            network.eval();
            return new ModelPackage(description, network);
        }
        catch
        {
            network.Dispose();
            throw;
        }
        finally
        {
            foreach (var tensor in tensors.Values)
            {
                tensor.Dispose();
            }
        }
    }

    /// <summary>Ours to theirs when the file uses our names (BatchNorm's step counter may be left out).</summary>
    private static Dictionary<string, string>? MatchByName(IEnumerable<string> ours, IEnumerable<string> theirs)
    {
        var available = theirs.ToHashSet(StringComparer.Ordinal);
        var needed = ours.Where(name => !name.EndsWith("num_batches_tracked", StringComparison.Ordinal)).ToList();
        return needed.All(available.Contains) && available.All(name => needed.Contains(name) || name.EndsWith("num_batches_tracked", StringComparison.Ordinal))
            ? needed.ToDictionary(name => name, name => name)
            : null;
    }

    private static Dictionary<string, string>? MatchByOrder(NetworkSpec spec, IEnumerable<string> ours, Dictionary<string, Tensor> theirs)
    {
        if (spec.Normalization != Normalization.None)
        {
            return null;
        }

        var ourWeights = ours.Where(name => name.EndsWith(".weight", StringComparison.Ordinal)).ToList();
        var theirWeights = theirs.Where(pair => pair.Key.EndsWith(".weight", StringComparison.Ordinal) && pair.Value.dim() == 2)
            .Select(pair => pair.Key)
            .OrderBy(NaturalKey, StringComparer.Ordinal)
            .ToList();
        if (ourWeights.Count != theirWeights.Count || theirs.Count != 2 * theirWeights.Count)
        {
            return null;
        }

        var mapping = new Dictionary<string, string>(StringComparer.Ordinal);
        for (int i = 0; i < ourWeights.Count; i++)
        {
            var theirBias = theirWeights[i][..^".weight".Length] + ".bias";
            if (!theirs.ContainsKey(theirBias))
            {
                return null;
            }

            mapping[ourWeights[i]] = theirWeights[i];
            mapping[ourWeights[i][..^".weight".Length] + ".bias"] = theirBias;
        }

        return mapping;
    }

    /// <summary>Numbers zero-padded so that "net.10.weight" sorts after "net.2.weight".</summary>
    private static string NaturalKey(string name) => Digits().Replace(name, match => match.Value.PadLeft(10, '0'));

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();
}
