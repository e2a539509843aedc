using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

/// <summary>Small networks and inputs shared by the tests; every one is built from a fixed seed.</summary>
internal static class TestNetworks
{
    public static DropoutNetwork Create(NetworkSpec spec, ulong seed = 7) => Trainer.CreateNetwork(spec, seed);

    public static McPredictor Predictor(NetworkSpec spec, McOptions? options = null, ulong seed = 7) =>
        new(Create(spec, seed), CPU, options);

    public static float[] Inputs(int rows, int features, int seed = 3)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, rows * features).Select(_ => (float)((random.NextDouble() * 4) - 2))];
    }

    public static NetworkSpec Regressor(int inputs = 8, double p = 0.2, params int[] hidden) => new()
    {
        Inputs = inputs,
        Hidden = hidden.Length == 0 ? [32, 32] : hidden,
        InputDropout = 0.1,
        HiddenDropout = [p],
    };

    /// <summary>Asserts two arrays agree within float32 rounding: GEMM kernels for different row counts sum in different orders.</summary>
    public static void AssertClose(IReadOnlyList<double> expected, IReadOnlyList<double> actual, double relative = 1e-4, double absolute = 1e-6)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var bound = absolute + (relative * Math.Abs(expected[i]));
            Assert.True(Math.Abs(expected[i] - actual[i]) <= bound, $"element {i}: expected {expected[i]}, got {actual[i]} (tolerance {bound})");
        }
    }

    public static void AssertSamePrediction(McPrediction expected, McPrediction actual)
    {
        Assert.Equal(expected.SamplesUsed, actual.SamplesUsed);
        Assert.Equal(expected.Rows.Count, actual.Rows.Count);
        foreach (var (e, a) in expected.Rows.Zip(actual.Rows))
        {
            switch (e, a)
            {
                case (RegressionPrediction er, RegressionPrediction ar):
                    AssertClose(er.Mean, ar.Mean);
                    AssertClose(er.EpistemicVariance, ar.EpistemicVariance);
                    AssertClose(er.AleatoricVariance, ar.AleatoricVariance);
                    break;
                case (ClassPrediction ec, ClassPrediction ac):
                    AssertClose(ec.Probabilities, ac.Probabilities);
                    AssertClose(ec.ProbabilityStd, ac.ProbabilityStd);
                    Assert.Equal(ec.Label, ac.Label);
                    Assert.Equal(ec.VariationRatio, ac.VariationRatio);
                    break;
                default:
                    Assert.Fail($"different prediction kinds: {e.GetType().Name} and {a.GetType().Name}");
                    break;
            }
        }
    }
}
