using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public class DropoutKindTests
{
    private static readonly NetworkSpec Inverted = new() { Inputs = 5, Hidden = [24, 12], InputDropout = 0.2, HiddenDropout = [0.5, 0.3] };

    /// <summary>
    /// A standard-dropout network whose weights after each dropout layer are the inverted network's
    /// divided by (1 - p): both then compute the same function, sampled and deterministic.
    /// </summary>
    private static (DropoutNetwork Inverted, DropoutNetwork Standard) EquivalentPair()
    {
        var inverted = Trainer.CreateNetwork(Inverted, seed: 12);
        var standard = new DropoutNetwork(Inverted with { DropoutKind = DropoutKind.Standard });
        double[] ratesBefore = [0.2, 0.5, 0.3];
        var linear = 0;
        using var noGrad = no_grad();
        foreach (var (name, parameter) in standard.named_parameters())
        {
            var source = inverted.named_parameters().Single(p => p.name == name).parameter;
            var isLinearWeight = name.EndsWith("weight", StringComparison.Ordinal) && parameter.dim() == 2;
            parameter.copy_(isLinearWeight ? source / (1 - ratesBefore[linear++]) : source);
        }

        return (inverted, standard);
    }

    [Fact]
    public void Inverted_and_standard_dropout_give_the_same_deterministic_output()
    {
        var (inverted, standard) = EquivalentPair();
        using var x = tensor(TestNetworks.Inputs(6, 5), [6, 5]);

        using var a = inverted.call(x);
        using var b = standard.call(x);

        TestNetworks.AssertClose([.. a.data<float>().ToArray().Select(v => (double)v)], [.. b.data<float>().ToArray().Select(v => (double)v)], 1e-5);
    }

    [Fact]
    public void Inverted_and_standard_dropout_give_the_same_MC_samples()
    {
        var (inverted, standard) = EquivalentPair();
        var request = new McRequest { Inputs = TestNetworks.Inputs(3, 5), Rows = 3, Samples = 200, Seed = 4 };
        using var invertedPredictor = new McPredictor(inverted, CPU);
        using var standardPredictor = new McPredictor(standard, CPU);

        TestNetworks.AssertSamePrediction(invertedPredictor.Predict(request), standardPredictor.Predict(request));
    }

    [Fact]
    public void Standard_dropout_expectation_matches_its_test_time_scaling()
    {
        // One standard dropout layer on the inputs of a linear network: E[W (m x)] = W (1 - p) x, which is what its deterministic pass computes.
        var spec = new NetworkSpec { Inputs = 4, Hidden = [8], Activation = Activation.Identity, InputDropout = 0.4, HiddenDropout = [0], DropoutKind = DropoutKind.Standard };
        using var predictor = TestNetworks.Predictor(spec);
        var inputs = TestNetworks.Inputs(2, 4);
        const int samples = 20_000;

        var mc = predictor.Predict(new McRequest { Inputs = inputs, Rows = 2, Samples = samples, Seed = 3 });
        var deterministic = predictor.PredictDeterministic(inputs, 2);

        for (int row = 0; row < 2; row++)
        {
            var sampled = Assert.IsType<RegressionPrediction>(mc.Rows[row]);
            var scaled = Assert.IsType<RegressionPrediction>(deterministic[row]).Mean[0];
            var standardError = Math.Sqrt(sampled.EpistemicVariance[0] / samples);
            Assert.InRange(sampled.Mean[0], scaled - (4 * standardError), scaled + (4 * standardError));
        }
    }
}
