using MathNet.Numerics.Distributions;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

/// <summary>The deterministic pass, the predictive mixture's quantile intervals and the Monte Carlo standard error.</summary>
public class PredictionOptionsTests
{
    private static RegressionPrediction Regression(McPrediction prediction, int row = 0) => Assert.IsType<RegressionPrediction>(prediction.Rows[row]);

    private static void AssertSameInterval((double[] Lower, double[] Upper) expected, (double[] Lower, double[] Upper) actual)
    {
        Assert.Equal(expected.Lower, actual.Lower);
        Assert.Equal(expected.Upper, actual.Upper);
    }

    /// <summary>The network's Linear layers' weights and biases, in call order, as double matrices.</summary>
    private static List<(double[,] Weight, double[] Bias)> Layers(DropoutNetwork network)
    {
        var parameters = network.named_parameters().Select(p => p.parameter).ToList();
        var layers = new List<(double[,], double[])>();
        for (int i = 0; i < parameters.Count; i += 2)
        {
            var weight = parameters[i].to(ScalarType.Float64).data<double>().ToArray();
            var bias = parameters[i + 1].to(ScalarType.Float64).data<double>().ToArray();
            int outputs = (int)parameters[i].shape[0], inputs = (int)parameters[i].shape[1];
            var matrix = new double[outputs, inputs];
            for (int o = 0; o < outputs; o++)
            {
                for (int k = 0; k < inputs; k++)
                {
                    matrix[o, k] = weight[(o * inputs) + k];
                }
            }

            layers.Add((matrix, bias));
        }

        return layers;
    }

    /// <summary>A linear network's output with every mask at its expectation (inverted dropout: 1), computed in double.</summary>
    private static double[] ClosedForm(DropoutNetwork network, ReadOnlySpan<float> row)
    {
        double[] x = [.. row.ToArray().Select(v => (double)v)];
        foreach (var (weight, bias) in Layers(network))
        {
            var next = new double[bias.Length];
            for (int o = 0; o < next.Length; o++)
            {
                next[o] = bias[o];
                for (int k = 0; k < x.Length; k++)
                {
                    next[o] += weight[o, k] * x[k];
                }
            }

            x = next;
        }

        return x;
    }

    /// <summary>
    /// One hidden unit, h = x, dropped with p = 0.5 and scaled by 2 when kept, output y = h: every pass gives 0 or 2x, each
    /// with probability 1/2, plus N(0, 1/τ) noise. A bimodal predictive distribution whose mean (x) lies between its modes.
    /// </summary>
    private static McPredictor Bimodal(double tau)
    {
        var spec = new NetworkSpec { Inputs = 1, Hidden = [1], Activation = Activation.Identity, HiddenDropout = [0.5], Head = new HeadSpec { Tau = tau } };
        var network = TestNetworks.Create(spec);
        using (no_grad())
        {
            foreach (var (name, parameter) in network.named_parameters())
            {
                parameter.copy_(name.EndsWith("weight", StringComparison.Ordinal) ? ones_like(parameter) : zeros_like(parameter));
            }
        }

        return new McPredictor(network, CPU);
    }

    [Fact]
    public void Deterministic_pass_equals_the_linear_networks_closed_form_with_the_heads_noise()
    {
        var spec = new NetworkSpec { Inputs = 4, Hidden = [12, 6], Activation = Activation.Identity, InputDropout = 0.3, HiddenDropout = [0.5], Head = new HeadSpec { Outputs = 2, Tau = 4 } };
        var network = TestNetworks.Create(spec);
        var inputs = TestNetworks.Inputs(rows: 5, features: 4);
        using var predictor = new McPredictor(network, CPU);

        var rows = predictor.PredictDeterministic(inputs, 5);

        for (int r = 0; r < 5; r++)
        {
            var row = Assert.IsType<RegressionPrediction>(rows[r]);
            // float32 products against double ones: a few ulps of the activations' scale.
            TestNetworks.AssertClose(ClosedForm(network, inputs.AsSpan(r * 4, 4)), row.Mean, relative: 1e-5, absolute: 1e-5);
            Assert.Equal([0.0, 0.0], row.EpistemicVariance);
            Assert.Equal([0.25, 0.25], row.AleatoricVariance); // 1/τ
            Assert.Null(row.StandardError);
            Assert.Equal(1, row.Mixture!.Passes);
        }
    }

    [Fact]
    public void Deterministic_classifier_pass_is_the_softmax_of_the_closed_form_with_no_epistemic_part()
    {
        var spec = new NetworkSpec { Inputs = 5, Hidden = [10], Activation = Activation.Identity, HiddenDropout = [0.4], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 3 } };
        var network = TestNetworks.Create(spec);
        var inputs = TestNetworks.Inputs(rows: 4, features: 5);
        using var predictor = new McPredictor(network, CPU);

        var rows = predictor.PredictDeterministic(inputs, 4);

        for (int r = 0; r < 4; r++)
        {
            var row = Assert.IsType<ClassPrediction>(rows[r]);
            var logits = ClosedForm(network, inputs.AsSpan(r * 5, 5));
            var max = logits.Max();
            var softmax = logits.Select(l => Math.Exp(l - max)).ToArray();
            TestNetworks.AssertClose([.. softmax.Select(e => e / softmax.Sum())], row.Probabilities, relative: 1e-5, absolute: 1e-6);
            Assert.All(row.ProbabilityStd, s => Assert.Equal(0, s));
            Assert.Equal(row.Entropy, row.ExpectedEntropy);
            Assert.Equal(0, row.MutualInformation);
            Assert.Null(row.StandardError);
        }
    }

    [Fact]
    public void Mixture_quantiles_equal_a_brute_force_search_of_the_mixture_CDF()
    {
        double[] means = [-1, 0.5, 2, 2.2, 0.1];
        double[] sds = [0.3, 1, 0.2, 0.5, 0.05];
        double F(double x) => means.Zip(sds, (m, s) => Normal.CDF(m, s, x)).Average();

        foreach (var level in new[] { 0.5, 0.8, 0.95, 0.99 })
        {
            var (lower, upper) = PredictiveMixture.Quantiles(means, sds, level);

            // A grid of step 1e-5 from 0.05 below the answer and linear interpolation where F crosses p: the interpolation
            // error is below max|F''| h² / 8 ≈ 1e-9 in F, under 1e-8 in x where the density is at least 0.1.
            foreach (var (actual, p) in new[] { (lower, (1 - level) / 2), (upper, 0.5 + (level / 2)) })
            {
                double h = 1e-5, x = actual - 0.05, previous = F(x);
                Assert.True(previous < p, $"the grid must start below the crossing (F = {previous} at {x}, p = {p})");
                while (F(x + h) is var next && next < p)
                {
                    x += h;
                    previous = next;
                }

                double crossing = x + (h * (p - previous) / (F(x + h) - previous));
                Assert.True(Math.Abs(actual - crossing) < 1e-7, $"level {level}, p {p}: {actual} against the grid's {crossing}");
                Assert.Equal(p, F(actual), 12); // and the CDF there is p
            }
        }
    }

    [Fact]
    public void A_one_component_mixture_gives_exactly_the_gaussian_interval()
    {
        var row = new RegressionPrediction([3.5], [0], [0.7]);
        var single = new PredictiveMixture(1, [3.5], [0.7]);
        var repeated = new PredictiveMixture(1, [3.5, 3.5, 3.5], [0.7, 0.7, 0.7]);

        foreach (var level in new[] { 0.5, 0.95, 1 - 1e-9 })
        {
            AssertSameInterval(row.Interval(level), single.Interval(level));
            AssertSameInterval(row.Interval(level), repeated.Interval(level));
        }
    }

    [Theory]
    [InlineData(0.8, 2, 18)] // α/2 · T = 2 exactly: the 2nd smallest and the 18th (#{μ > x} ≤ 2)
    [InlineData(0.9, 1, 19)]
    [InlineData(0.95, 1, 20)] // α/2 · T = 0.5: the extremes
    [InlineData(0.5, 5, 15)]
    public void Without_noise_the_quantiles_are_the_inverse_of_the_empirical_CDF(double level, double lower, double upper)
    {
        // numpy: np.quantile(np.arange(1, 21), [0.1, 0.9], method="inverted_cdf") == [2, 18]; the means are shuffled.
        double[] means = [.. Enumerable.Range(1, 20).Select(v => (double)v).OrderBy(v => (v * 7) % 20)];

        var interval = PredictiveMixture.Quantiles(means, new double[20], level);

        Assert.Equal((lower, upper), interval);
    }

    [Fact]
    public void On_a_bimodal_prediction_the_quantile_interval_covers_its_level_and_the_gaussian_one_does_not()
    {
        using var predictor = Bimodal(tau: 1e4); // noise sd 0.01: two narrow modes, at 0 and 2
        var prediction = Regression(predictor.Predict(new McRequest { Inputs = [1f], Rows = 1, Samples = 2000, Seed = 3, KeepMixture = true }));
        const double level = 0.5;

        var (gaussianLower, gaussianUpper) = prediction.Interval(level);
        var (quantileLower, quantileUpper) = prediction.Mixture!.Interval(level);

        // Fresh draws from the network's true predictive distribution: y = 2 m + N(0, 0.01²), m ~ Bernoulli(1/2).
        var random = new Random(11);
        var draws = Enumerable.Range(0, 20_000).Select(_ => (random.NextDouble() < 0.5 ? 2.0 : 0.0) + (0.01 * Normal.Sample(random, 0, 1))).ToArray();
        double Coverage(double lower, double upper) => draws.Count(y => y >= lower && y <= upper) / (double)draws.Length;

        // The mixture's share of passes in each mode is 1/2 ± 0.011 (T = 2000) and the draws' coverage ± 0.0035 (N = 20,000):
        // 0.05 is over four of the first. The Gaussian interval, mean 1 ± 0.67, lies in the gap between the modes.
        Assert.InRange(Coverage(quantileLower[0], quantileUpper[0]), level - 0.05, level + 0.05);
        Assert.InRange(Coverage(gaussianLower[0], gaussianUpper[0]), 0, 0.001);
        Assert.InRange(quantileLower[0], -0.05, 0.05);
        Assert.InRange(quantileUpper[0], 1.95, 2.05);
    }

    [Fact]
    public void Mixture_holds_every_pass_even_where_statistics_would_be_reduced_on_the_device()
    {
        var spec = TestNetworks.Regressor() with { Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression } };
        using var predictor = TestNetworks.Predictor(spec, new McOptions { DeviceStatisticsMinValues = 1, Reproducible = false });

        var prediction = predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(3, 8), Rows = 3, Samples = 64, Seed = 2, ReturnSamples = true, KeepMixture = true });

        for (int r = 0; r < 3; r++)
        {
            var row = Regression(prediction, r);
            Assert.Equal(64, row.Mixture!.Passes);
            Assert.Equal(row.Samples!.Select(s => (double)s[0]), row.Mixture.Means); // float outputs, held exactly
            Assert.Equal(row.AleatoricVariance[0], row.Mixture.Variances.Average(), 12); // the noise per pass, averaged
            Assert.Equal(row.Mean[0], row.Mixture.Means.Average(), 12);
        }
    }

    [Fact]
    public void A_classifier_has_no_mixture_to_keep()
    {
        var spec = new NetworkSpec { Inputs = 8, Hidden = [16], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 3 } };
        using var predictor = TestNetworks.Predictor(spec);

        Assert.Throws<ArgumentException>(() => predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(1, 8), Rows = 1, Samples = 4, KeepMixture = true }));
    }

    [Fact]
    public void Standard_error_is_the_root_of_the_variance_over_T_and_shrinks_as_one_over_root_T()
    {
        using var predictor = TestNetworks.Predictor(TestNetworks.Regressor());
        var inputs = TestNetworks.Inputs(4, 8);

        var few = predictor.Predict(new McRequest { Inputs = inputs, Rows = 4, Samples = 100, Seed = 8 });
        var many = predictor.Predict(new McRequest { Inputs = inputs, Rows = 4, Samples = 1600, Seed = 8 });

        for (int r = 0; r < 4; r++)
        {
            Assert.Equal(Math.Sqrt(Regression(few, r).EpistemicVariance[0] / 100), Regression(few, r).StandardError![0], 14);
            Assert.Equal(Math.Sqrt(Regression(many, r).EpistemicVariance[0] / 1600), Regression(many, r).StandardError![0], 14);
            // 16 times the passes, a quarter of the error. s at T = 100 is off by about 1/sqrt(2 · 99) = 7 % for Gaussian
            // passes (more for skewed ones): ±30 % is over four of those.
            Assert.InRange(Regression(few, r).StandardError![0] / Regression(many, r).StandardError![0], 4 * 0.7, 4 * 1.3);
        }

        Assert.Equal(few.Rows.Max(row => row.StandardError![0]), few.MaxStandardError);
    }

    [Fact]
    public void A_classifiers_standard_error_is_each_probabilitys_std_over_root_T()
    {
        var spec = new NetworkSpec { Inputs = 8, Hidden = [32], HiddenDropout = [0.5], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 4 } };
        using var predictor = TestNetworks.Predictor(spec);

        var prediction = predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(3, 8), Rows = 3, Samples = 300, Seed = 5 });

        foreach (var row in prediction.Rows.Cast<ClassPrediction>())
        {
            TestNetworks.AssertClose([.. row.ProbabilityStd.Select(s => s / Math.Sqrt(300))], row.StandardError!, relative: 1e-12, absolute: 0);
        }

        Assert.Equal(prediction.Rows.Max(row => row.StandardError!.Max()), prediction.MaxStandardError);
    }

    [Fact]
    public void Adaptive_T_stops_at_the_first_checkpoint_where_every_reported_standard_error_is_within_the_tolerance()
    {
        using var predictor = TestNetworks.Predictor(TestNetworks.Regressor());
        var inputs = TestNetworks.Inputs(3, 8);
        var probe = predictor.Predict(new McRequest { Inputs = inputs, Rows = 3, Samples = 200, Seed = 6 });
        var tolerance = probe.MaxStandardError * Math.Sqrt(200.0 / 800);

        var adaptive = predictor.Predict(new McRequest { Inputs = inputs, Rows = 3, Samples = 100_000, Seed = 6, Tolerance = tolerance });
        // The same seed draws the same masks for the same pass indices: this is the adaptive run stopped one checkpoint earlier.
        var before = predictor.Predict(new McRequest { Inputs = inputs, Rows = 3, Samples = adaptive.SamplesUsed - 32, Seed = 6 });

        Assert.InRange(adaptive.SamplesUsed, 64, 100_000 - 1);
        Assert.All(adaptive.Rows, row => Assert.True(row.StandardError![0] <= tolerance));
        Assert.Contains(before.Rows, row => row.StandardError![0] > tolerance);
    }

    [Fact]
    public void One_pass_reports_zero_variance_no_standard_error_and_the_gaussian_interval_as_its_quantiles()
    {
        using var predictor = TestNetworks.Predictor(TestNetworks.Regressor());

        var prediction = predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(2, 8), Rows = 2, Samples = 1, Seed = 4, KeepMixture = true });

        Assert.Equal(1, prediction.SamplesUsed);
        Assert.Equal(double.PositiveInfinity, prediction.MaxStandardError); // adaptive T never stops on one pass
        foreach (var row in prediction.Rows.Cast<RegressionPrediction>())
        {
            Assert.Equal(0, row.EpistemicVariance[0]);
            Assert.Null(row.StandardError);
            AssertSameInterval(row.Interval(0.9), row.Mixture!.Interval(0.9));
        }
    }

    [Fact]
    public void One_pass_of_a_classifier_has_no_spread_and_no_mutual_information()
    {
        var spec = new NetworkSpec { Inputs = 8, Hidden = [16], HiddenDropout = [0.5], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 3 } };
        using var predictor = TestNetworks.Predictor(spec);

        var prediction = predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(2, 8), Rows = 2, Samples = 1, Seed = 4 });

        Assert.All(prediction.Rows.Cast<ClassPrediction>(), row =>
        {
            Assert.All(row.ProbabilityStd, s => Assert.Equal(0, s));
            Assert.Null(row.StandardError);
            Assert.Equal(0, row.MutualInformation);
        });
    }
}
