using System.Text.Json;
using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public sealed class ModelPackageTests : IDisposable
{
    private readonly string root = Path.Combine(Path.GetTempPath(), $"uncertainty-packages-{Guid.NewGuid():N}");

    private static readonly NetworkSpec Spec = TestNetworks.Regressor() with { Normalization = Normalization.BatchNorm };

    private string SavedPackage(string name = "model")
    {
        var inputs = TestNetworks.Inputs(40, 8);
        var targets = TestNetworks.Inputs(40, 1, seed: 5);
        var network = Trainer.CreateNetwork(Spec, seed: 2);
        var training = Trainer.Train(network, new TrainingSet(inputs, targets), new TrainingOptions { Epochs = 3, BatchSize = 8, Seed = 2 });
        var description = new ModelDescription
        {
            Network = Spec,
            InputScaling = Standardizer.Fit(inputs, 8),
            TargetScaling = new Standardizer([10.0], [2.0]),
            FeatureNames = [.. Enumerable.Range(0, 8).Select(i => $"f{i}")],
            Training = training,
        };
        using var package = new ModelPackage(description, network);
        var directory = Path.Combine(root, name);
        package.Save(directory);
        return directory;
    }

    private static McPrediction Predict(ModelPackage package)
    {
        using var predictor = new McPredictor(package.Network, CPU, outputScale: package.Description.OutputScale);
        var inputs = package.Description.PrepareInputs(TestNetworks.Inputs(3, 8, seed: 11));
        return package.Description.ToReportedUnits(predictor.Predict(new McRequest { Inputs = inputs, Rows = 3, Samples = 50, Seed = 5 }));
    }

    [Fact]
    public void Saved_and_loaded_package_gives_identical_predictions()
    {
        var directory = SavedPackage();
        using var original = ModelPackage.Load(directory);
        var expected = Predict(original);

        using var reloaded = ModelPackage.Load(directory);
        var actual = Predict(reloaded);

        foreach (var (e, a) in expected.Rows.Cast<RegressionPrediction>().Zip(actual.Rows.Cast<RegressionPrediction>()))
        {
            Assert.Equal(e.Mean, a.Mean);
            Assert.Equal(e.EpistemicVariance, a.EpistemicVariance);
        }

        Assert.Equal(8, reloaded.Description.FeatureNames!.Count);
        Assert.Equal(3, reloaded.Description.Training!.Epochs);
    }

    [Fact]
    public void Predictions_are_reported_in_target_units()
    {
        using var package = ModelPackage.Load(SavedPackage());
        using var predictor = new McPredictor(package.Network, CPU);
        var inputs = package.Description.PrepareInputs(TestNetworks.Inputs(1, 8));
        var raw = predictor.Predict(new McRequest { Inputs = inputs, Rows = 1, Samples = 20, Seed = 1 });

        var reported = Assert.IsType<RegressionPrediction>(package.Description.ToReportedUnits(raw).Rows[0]);

        var network = Assert.IsType<RegressionPrediction>(raw.Rows[0]);
        Assert.Equal(10 + (2 * network.Mean[0]), reported.Mean[0], 9);
        Assert.Equal(4 * network.EpistemicVariance[0], reported.EpistemicVariance[0], 9);
        Assert.Equal(4 * 1.0, reported.AleatoricVariance[0], 9); // tau = 1 in standardised units
    }

    [Fact]
    public void A_flipped_byte_in_the_weights_is_refused()
    {
        var directory = SavedPackage();
        var weights = Path.Combine(directory, ModelPackage.WeightsFileName);
        var bytes = File.ReadAllBytes(weights);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(weights, bytes);

        var error = Assert.Throws<InvalidDataException>(() => ModelPackage.Load(directory));

        Assert.Contains(weights, error.Message, StringComparison.Ordinal);
        Assert.Contains("SHA-256", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Truncated_weights_are_refused()
    {
        var directory = SavedPackage();
        var weights = Path.Combine(directory, ModelPackage.WeightsFileName);
        File.WriteAllBytes(weights, File.ReadAllBytes(weights)[..100]);

        var error = Assert.Throws<InvalidDataException>(() => ModelPackage.Load(directory));

        Assert.Contains("corrupt or truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Weights_that_do_not_fit_the_manifest_network_are_refused_even_with_a_valid_hash()
    {
        var directory = SavedPackage();
        var manifestPath = Path.Combine(directory, ModelPackage.ManifestFileName);
        var manifest = ModelPackage.ReadManifest(manifestPath);
        var wider = manifest with { Model = manifest.Model with { Network = Spec with { Hidden = [33, 32] } } };
        File.WriteAllText(manifestPath, JsonSerializer.Serialize(wider, NetworkSpec.Json));

        var error = Assert.Throws<InvalidDataException>(() => ModelPackage.Load(directory));

        Assert.Contains(ModelPackage.WeightsFileName, error.Message, StringComparison.Ordinal);
        Assert.Contains("do not fit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_or_unreadable_manifest_is_refused_with_its_path()
    {
        var directory = SavedPackage();
        var manifestPath = Path.Combine(directory, ModelPackage.ManifestFileName);
        File.WriteAllText(manifestPath, "{ not json");

        var error = Assert.Throws<InvalidDataException>(() => ModelPackage.Load(directory));

        Assert.Contains(manifestPath, error.Message, StringComparison.Ordinal);
        File.Delete(manifestPath);
        Assert.Contains("no manifest", Assert.Throws<InvalidDataException>(() => ModelPackage.Load(directory)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Packages_are_immutable_and_leave_no_staging_directories()
    {
        var directory = SavedPackage("v1");
        using var package = ModelPackage.Load(directory);

        Assert.Throws<IOException>(() => package.Save(directory));
        Assert.Equal(["v1"], Directory.GetDirectories(root).Select(Path.GetFileName));
        Assert.Equal([ModelPackage.ManifestFileName, ModelPackage.WeightsFileName], Directory.GetFiles(directory).Select(Path.GetFileName).Order());
    }

    public void Dispose()
    {
        if (Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
