using System.Text.Json;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;

namespace Uncertainty.Model.Tests;

/// <summary>Enums are written as camelCase strings; packages written with the earlier PascalCase names still load.</summary>
public sealed class EnumSpellingTests
{
    [Fact]
    public void A_network_spec_writes_its_enums_in_camel_case()
    {
        var spec = new NetworkSpec { Inputs = 2, DropoutKind = DropoutKind.Standard, Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression } };

        var json = JsonDocument.Parse(spec.ToJson()).RootElement;

        Assert.Equal("standard", json.GetProperty("dropoutKind").GetString());
        Assert.Equal("heteroscedasticRegression", json.GetProperty("head").GetProperty("kind").GetString());
    }

    [Fact]
    public void A_network_spec_with_the_earlier_pascal_case_names_still_reads()
    {
        var spec = NetworkSpec.FromJson("""{"inputs": 2, "hidden": [3], "activation": "LeakyRelu", "dropoutKind": "Standard", "normalization": "LayerNorm", "head": {"kind": "HeteroscedasticRegression"}}""");

        Assert.Equal(Activation.LeakyRelu, spec.Activation);
        Assert.Equal(DropoutKind.Standard, spec.DropoutKind);
        Assert.Equal(Normalization.LayerNorm, spec.Normalization);
        Assert.Equal(HeadKind.HeteroscedasticRegression, spec.Head.Kind);
    }

    [Fact]
    public void Training_options_and_image_input_read_either_spelling_and_refuse_numbers()
    {
        var options = JsonSerializer.Deserialize<TrainingOptions>("""{"optimizer": "AdamW", "schedule": "cosine", "initialization": "Glorot"}""", NetworkSpec.Json)!;
        var image = JsonSerializer.Deserialize<ImageInput>("""{"channels": 1, "height": 8, "width": 8, "pixelMax": 16, "background": "Light"}""", NetworkSpec.Json)!;

        Assert.Equal((OptimizerKind.AdamW, LearningRateSchedule.Cosine, WeightInitialization.Glorot), (options.Optimizer, options.Schedule, options.Initialization));
        Assert.Equal(ImageBackground.Light, image.Background);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TrainingOptions>("""{"optimizer": 1}""", NetworkSpec.Json));
    }

    [Fact]
    public void A_shipped_manifest_written_with_pascal_case_names_loads()
    {
        var manifest = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "src", "Uncertainty.Api", "BuiltInModels", "births", "manifest.json");
        Assert.Contains("\"HeteroscedasticRegression\"", File.ReadAllText(manifest), StringComparison.Ordinal); // the old spelling, as shipped

        var read = ModelPackage.ReadManifest(manifest);

        Assert.Equal(HeadKind.HeteroscedasticRegression, read.Model.Network.Head.Kind);
        Assert.Equal(DropoutKind.Inverted, read.Model.Network.DropoutKind);
    }
}
