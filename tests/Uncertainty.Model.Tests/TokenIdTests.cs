using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

/// <summary>Token ids outside float32 compute and outside the prediction API: bfloat16 passes and training rows.</summary>
public sealed class TokenIdTests
{
    private static NetworkSpec Tokens(int vocab) => new()
    {
        InputShape = [4],
        Layers =
        [
            new LayerSpec { Type = LayerType.Embedding, Vocab = vocab, Dim = 4 },
            LayerSpec.Of(LayerType.MeanPool),
            LayerSpec.LinearTo(1),
        ],
        Head = new HeadSpec { Outputs = 1 },
    };

    private static double Mean(McPredictor predictor, float id) =>
        ((RegressionPrediction)predictor.PredictDeterministic([id, 0, 0, 0], 1)[0]).Mean[0];

    [Fact]
    public void Bf16_passes_read_token_ids_above_256_as_themselves()
    {
        var spec = Tokens(600);
        using var fp32 = TestNetworks.Predictor(spec);
        using var bf16 = TestNetworks.Predictor(spec, new McOptions { Precision = ComputePrecision.Bf16 });
        Assert.NotEqual(Mean(fp32, 256), Mean(fp32, 257));
        // 257 is not a bfloat16 value: sent in the compute type it became 256, another word.
        Assert.NotEqual(Mean(bf16, 256), Mean(bf16, 257));
    }

    [Fact]
    public void Bf16_passes_accept_the_largest_token_id()
    {
        var spec = Tokens(600);
        using var bf16 = TestNetworks.Predictor(spec, new McOptions { Precision = ComputePrecision.Bf16 });
        using var fp32 = TestNetworks.Predictor(spec);
        // 599 is not a bfloat16 value either: it rounded to 600, past the vocabulary (index out of range).
        Assert.Equal(Mean(fp32, 599), Mean(bf16, 599), 1e-2);
    }

    [Fact]
    public void Training_rows_with_token_ids_past_the_vocabulary_are_refused_before_libtorch_sees_them()
    {
        var spec = Tokens(10);
        var features = new float[] { 1, 2, 3, 0, 4, 25, 0, 0, 1, 1, 1, 1, 2, 2, 0, 0 };
        var data = new Dataset("ids", ["t0", "t1", "t2", "t3"], features, "y", [0.5f, 1, 2, 3]);
        var error = Assert.Throws<ArgumentException>(() => TrainingPipeline.Fit(data, spec, new TrainingOptions { Epochs = 1, BatchSize = 4, Seed = 1, ValidationFraction = 0 }).Dispose());
        Assert.Contains("25 is not a token id", error.Message);
    }

    [Fact]
    public void Training_rows_with_fractional_or_negative_ids_are_refused()
    {
        var spec = Tokens(10);
        var features = new float[] { 1.7f, 2, 3, 0, 4, -0.5f, 0, 0, 1, 1, 1, 1, 2, 2, 0, 0 };
        var data = new Dataset("ids", ["t0", "t1", "t2", "t3"], features, "y", [0.5f, 1, 2, 3]);
        Assert.ThrowsAny<ArgumentException>(() => TrainingPipeline.Fit(data, spec, new TrainingOptions { Epochs = 1, BatchSize = 4, Seed = 1, ValidationFraction = 0 }).Dispose());
    }
}
