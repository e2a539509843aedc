using System.Buffers.Binary;
using System.Text.Json;
using System.Text.RegularExpressions;
using TorchSharp.PyBridge;
using Uncertainty.Model.Native;
using Uncertainty.Model.Networks;
using static TorchSharp.torch;

namespace Uncertainty.Model.Packaging;

/// <summary>
/// Weights trained in PyTorch, as safetensors (tensors and a JSON header, nothing executable), loaded
/// into a network of the given spec. Tensors are matched by the names of a torch.nn.ModuleList built from the spec's layer
/// list (0.weight, 0.bias, ...: docs/layers.md), by our own names (layers.{k}.weight, ...) or, for an MLP shorthand
/// without normalisation layers, by order: the file's 2-D ".weight" tensors sorted by their
/// numeric prefix (an nn.Sequential's 0.weight, 3.weight, ...) become our Linear layers in order, each with
/// the ".bias" beside it. Every shape must match. Pickle-based files (torch.save) are refused: unpickling
/// runs code chosen by whoever wrote the file. The header is checked before TorchSharp.PyBridge reads anything
/// (it allocates whatever the header claims), and weights that are not finite are refused.
/// </summary>
public static partial class SafetensorsImport
{
    /// <summary>
    /// Largest JSON header accepted. Headers list names, dtypes, shapes and offsets: a few hundred bytes per tensor,
    /// so an MLP's header is a few kilobytes and 16 MiB is far above any real one, yet bounds what a claim can allocate.
    /// </summary>
    public const int MaxHeaderBytes = 16 << 20;

    // Bytes per element of the dtypes PyBridge reads; anything else is refused up front.
    private static readonly Dictionary<string, int> DtypeSizes = new(StringComparer.Ordinal)
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1,
    };

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
        CheckHeader(weights);
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

        var network = new DropoutNetwork(description.Network);
        try
        {
            RejectNonFinite(tensors);
            var ours = network.state_dict();
            var byPosition = PositionNames(network);
            var mapping = MatchByName(ours.Keys, tensors.Keys)
                ?? MatchByName(byPosition.Keys, tensors.Keys)?.ToDictionary(pair => byPosition[pair.Key], pair => pair.Value)
                ?? MatchByOrder(description.Network, ours.Keys, tensors)
                ?? throw new InvalidDataException(
                    $"The tensors ({string.Join(", ", tensors.Keys.Order(StringComparer.Ordinal))}) match neither the names of a PyTorch " +
                    $"ModuleList built from the spec ({string.Join(", ", byPosition.Keys)}), nor the network's own names ({string.Join(", ", ours.Keys)}), " +
                    "nor, by order, an MLP's Linear layers (docs/layers.md).");
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

    /// <summary>
    /// Throws <see cref="InvalidDataException"/> unless the stream starts with a plausible safetensors header: a little-endian
    /// length that is positive, at most <see cref="MaxHeaderBytes"/> and within the stream, then a JSON object whose tensors
    /// have known dtypes and lie, with the byte length their shape needs, inside the data that follows. Reads only the header,
    /// so nothing is allocated from a size the file merely claims. Leaves the stream's position undefined.
    /// </summary>
    public static void CheckHeader(Stream weights)
    {
        weights.Position = 0;
        long length = weights.Length;
        Span<byte> prefix = stackalloc byte[8];
        if (weights.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false) < prefix.Length)
        {
            throw new InvalidDataException($"The file has {length} bytes; a safetensors file starts with an 8-byte header length.");
        }

        ulong claimed = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
        if (claimed == 0)
        {
            throw new InvalidDataException("The safetensors header length is 0; the header must be a JSON object.");
        }

        if (claimed > (ulong)(length - prefix.Length))
        {
            throw new InvalidDataException($"The safetensors header claims {claimed} bytes, but only {length - prefix.Length} follow the 8-byte length.");
        }

        if (claimed > MaxHeaderBytes)
        {
            throw new InvalidDataException($"The safetensors header claims {claimed} bytes; at most {MaxHeaderBytes} are accepted.");
        }

        var json = new byte[(int)claimed];
        weights.ReadExactly(json);
        try
        {
            using var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"The safetensors header is a JSON {document.RootElement.ValueKind.ToString().ToLowerInvariant()}, not an object.");
            }

            CheckEntries(document.RootElement, length - prefix.Length - (long)claimed);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"The safetensors header is not JSON: {e.Message}", e);
        }
    }

    /// <summary>Each tensor's dtype is known and its [begin, end) byte range lies in the data section and fits its shape exactly.</summary>
    private static void CheckEntries(JsonElement header, long dataBytes)
    {
        foreach (var entry in header.EnumerateObject())
        {
            if (entry.Name == "__metadata__")
            {
                continue;
            }

            var tensor = entry.Value;
            if (tensor.ValueKind != JsonValueKind.Object
                || !tensor.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String
                || !tensor.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array
                || !tensor.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            {
                throw new InvalidDataException($"Tensor '{entry.Name}': the header needs dtype, shape and data_offsets [begin, end].");
            }

            if (!DtypeSizes.TryGetValue(dtype.GetString()!, out var size))
            {
                throw new InvalidDataException($"Tensor '{entry.Name}' has dtype {dtype.GetString()}; supported: {string.Join(", ", DtypeSizes.Keys)}.");
            }

            long begin = NonNegative(offsets[0], entry.Name), end = NonNegative(offsets[1], entry.Name);
            if (begin > end || end > dataBytes)
            {
                throw new InvalidDataException($"Tensor '{entry.Name}' has data_offsets [{begin}, {end}], outside the {dataBytes} data bytes that follow the header.");
            }

            // The byte count the shape needs, saturated: a claim of 10^30 elements must not wrap into a small number.
            long needed = size;
            foreach (var dimension in shape.EnumerateArray())
            {
                long extent = NonNegative(dimension, entry.Name);
                needed = extent != 0 && needed > long.MaxValue / extent ? long.MaxValue : needed * extent;
            }

            if (needed != end - begin)
            {
                throw new InvalidDataException($"Tensor '{entry.Name}' has shape [{string.Join(", ", shape.EnumerateArray())}] of {dtype.GetString()}, which needs {(needed == long.MaxValue ? "more than 2^63" : needed.ToString(System.Globalization.CultureInfo.InvariantCulture))} bytes; its data_offsets hold {end - begin}.");
            }
        }
    }

    private static long NonNegative(JsonElement value, string tensor) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number) && number >= 0
            ? number
            : throw new InvalidDataException($"Tensor '{tensor}': shapes and data_offsets must be non-negative integers, not {value.GetRawText()}.");

    /// <summary>NaN or infinite weights would make every prediction NaN: refused, naming the first such tensor.</summary>
    private static void RejectNonFinite(Dictionary<string, Tensor> tensors)
    {
        foreach (var (name, tensor) in tensors.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            if (!tensor.is_floating_point())
            {
                continue;
            }

            using var scope = NewDisposeScope();
            long bad = isfinite(tensor).logical_not().sum().item<long>();
            if (bad > 0)
            {
                throw new InvalidDataException($"Tensor '{name}' holds {bad} value(s) that are NaN or infinite; the weights must be finite.");
            }
        }
    }

    /// <summary>
    /// PyTorch's names for the network's tensors, mapped to ours: a torch.nn.ModuleList built from the same layer list names a
    /// tensor {position}.{name} with every layer counted, dropout included (0.weight, 0.bias, 4.running_mean, ...).
    /// </summary>
    private static Dictionary<string, string> PositionNames(DropoutNetwork network)
    {
        var names = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in network.state_dict().Keys)
        {
            // Ours are layers.{module}.{tensor}.
            var parts = name.Split('.', 3);
            int module = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            int position = network.ModuleIndexOfLayer.ToList().IndexOf(module);
            names[$"{position}.{parts[2]}"] = name;
        }

        return names;
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
        if (spec.Layers is not null || spec.Normalization != Normalization.None)
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
