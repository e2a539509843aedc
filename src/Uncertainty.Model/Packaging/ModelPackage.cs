using System.Security.Cryptography;
using System.Text.Json;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Native;

namespace Uncertainty.Model.Packaging;

/// <summary>The manifest.json of a package: format version, description and the SHA-256 of the weights.</summary>
public sealed record ModelManifest
{
    public const int CurrentFormat = 1;

    public int FormatVersion { get; init; } = CurrentFormat;

    public required ModelDescription Model { get; init; }

    public string WeightsFile { get; init; } = ModelPackage.WeightsFileName;

    public required string WeightsSha256 { get; init; }

    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>
/// A model on disk: a directory holding manifest.json and the weights in TorchSharp's format.
/// A package appears whole or not at all (written to a staging directory, flushed, then renamed),
/// and loading refuses a package whose weights do not match their hash or the network's shapes.
/// </summary>
public sealed class ModelPackage(ModelDescription description, DropoutNetwork network) : IDisposable
{
    public const string ManifestFileName = "manifest.json";
    public const string WeightsFileName = "weights.bin";

    public ModelDescription Description { get; } = description;

    public DropoutNetwork Network { get; } = network;

    /// <summary>Writes the package to <paramref name="directory"/>, which must not exist yet; returns the manifest written.</summary>
    public ModelManifest Save(string directory)
    {
        directory = Path.GetFullPath(directory);
        if (Directory.Exists(directory))
        {
            throw new IOException($"Cannot save a model package to '{directory}': it already exists (packages are immutable).");
        }

        var parent = Path.GetDirectoryName(directory)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{Path.GetFileName(directory)}.{Guid.NewGuid():N}.staging");
        Directory.CreateDirectory(staging);
        try
        {
            var weights = SerializeWeights();
            var manifest = new ModelManifest
            {
                Model = Description,
                WeightsSha256 = Convert.ToHexStringLower(SHA256.HashData(weights)),
                CreatedAt = DateTimeOffset.UtcNow,
            };
            AtomicFile.WriteAllBytes(Path.Combine(staging, WeightsFileName), weights);
            AtomicFile.WriteAllBytes(Path.Combine(staging, ManifestFileName), JsonSerializer.SerializeToUtf8Bytes(manifest, NetworkSpec.Json));
            Directory.Move(staging, directory);
            AtomicFile.FlushDirectory(parent);
            return manifest;
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    /// <summary>Loads and verifies a package; a corrupt, truncated or mismatched one fails with <see cref="InvalidDataException"/> naming the file.</summary>
    public static ModelPackage Load(string directory)
    {
        TorchBackend.EnsureInitialized();
        var manifestPath = Path.Combine(directory, ManifestFileName);
        var manifest = ReadManifest(manifestPath);
        var weightsPath = Path.Combine(directory, Path.GetFileName(manifest.WeightsFile));
        if (!File.Exists(weightsPath))
        {
            throw new InvalidDataException($"{weightsPath}: the weights file named by the manifest is missing.");
        }

        var weights = File.ReadAllBytes(weightsPath);
        var actual = Convert.ToHexStringLower(SHA256.HashData(weights));
        if (!string.Equals(actual, manifest.WeightsSha256, StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidDataException($"{weightsPath}: SHA-256 is {actual} but the manifest expects {manifest.WeightsSha256}; the weights are corrupt or truncated.");
        }

        var network = new DropoutNetwork(manifest.Model.Network);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(weights));
            network.load(reader, strict: true);
        }
        catch (Exception e) when (e is ArgumentException or EndOfStreamException or IOException)
        {
            network.Dispose();
            throw new InvalidDataException($"{weightsPath}: the weights do not fit the network in the manifest ({e.Message})", e);
        }

        network.eval();
        return new ModelPackage(manifest.Model, network);
    }

    public static ModelManifest ReadManifest(string manifestPath)
    {
        if (!File.Exists(manifestPath))
        {
            throw new InvalidDataException($"{manifestPath}: the package has no manifest.");
        }

        ModelManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllBytes(manifestPath), NetworkSpec.Json)
                ?? throw new InvalidDataException($"{manifestPath}: the manifest is empty.");

            // JSON null satisfies 'required': every part the service reads is checked here, so a hand-edited
            // manifest fails as invalid data instead of as a null reference somewhere later.
            var model = manifest.Model ?? throw new ArgumentException("'model' is missing");
            var network = (model.Network ?? throw new ArgumentException("'model.network' is missing")).Validate();
            var scaling = model.InputScaling ?? throw new ArgumentException("'model.inputScaling' is missing");
            if (scaling.Mean?.Length != network.Inputs || scaling.Std?.Length != network.Inputs)
            {
                throw new ArgumentException($"'model.inputScaling' needs {network.Inputs} means and standard deviations");
            }

            if (model.TargetScaling is { } target && (target.Mean?.Length != network.Head.Outputs || target.Std?.Length != network.Head.Outputs))
            {
                throw new ArgumentException($"'model.targetScaling' needs {network.Head.Outputs} means and standard deviations");
            }

            if (model.FeatureNames is { } features && (features.Count != network.Inputs || features.Any(f => f is null)))
            {
                throw new ArgumentException($"'model.featureNames' needs {network.Inputs} names");
            }

            if (model.Image is { } image && (network.InputShape is not { Count: 3 } shape || image.Channels != shape[0] || image.Height != shape[1] || image.Width != shape[2] || !(image.PixelMax > 0) || !double.IsFinite(image.PixelMax)))
            {
                throw new ArgumentException("'model.image' must match the network's [channels, height, width] input and have a positive pixelMax");
            }

            if (model.OutputNames is { } outputs && outputs.Any(o => o is null))
            {
                throw new ArgumentException("'model.outputNames' holds a null");
            }

            model.TrainingData?.Validate();

            if (string.IsNullOrEmpty(manifest.WeightsSha256) || string.IsNullOrEmpty(manifest.WeightsFile))
            {
                throw new ArgumentException("'weightsSha256' and 'weightsFile' are needed");
            }
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new InvalidDataException($"{manifestPath}: the manifest is not valid ({e.Message})", e);
        }

        if (manifest.FormatVersion != ModelManifest.CurrentFormat)
        {
            throw new InvalidDataException($"{manifestPath}: package format {manifest.FormatVersion} is not supported (this build reads format {ModelManifest.CurrentFormat}).");
        }

        return manifest;
    }

    private byte[] SerializeWeights()
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            Network.save(writer);
        }

        return buffer.ToArray();
    }

    /// <summary>This package's network with <paramref name="data"/> recorded as what it was trained on; the new package owns the network.</summary>
    public ModelPackage WithTrainingData(TrainingData data) => new(Description with { TrainingData = data }, Network);

    public ModelPackage WithTuning(Training.TuningReport tuning) => new(Description with { Tuning = tuning }, Network);

    public void Dispose() => Network.Dispose();
}
