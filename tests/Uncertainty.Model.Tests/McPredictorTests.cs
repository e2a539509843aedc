using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public class McPredictorTests
{
    private static RegressionPrediction Regression(McPrediction prediction, int row = 0) => Assert.IsType<RegressionPrediction>(prediction.Rows[row]);

    [Fact]
    public void Linear_network_MC_mean_converges_to_the_weight_scaled_output()
    {
        var spec = new NetworkSpec { Inputs = 6, Hidden = [16, 16], Activation = Activation.Identity, InputDropout = 0.2, HiddenDropout = [0.5] };
        using var predictor = TestNetworks.Predictor(spec);
        var inputs = TestNetworks.Inputs(rows: 5, features: 6);
        const int samples = 20_000;

        var mc = predictor.Predict(new McRequest { Inputs = inputs, Rows = 5, Samples = samples, Seed = 1 });
        var scaled = predictor.PredictDeterministic(inputs, 5);

        // Masks are independent of the weights, so for a linear network E[output] is exactly the weight-scaled output;
        // the MC mean's standard error is sqrt(epistemic variance / T).
        for (int row = 0; row < 5; row++)
        {
            var sampled = Regression(mc, row);
            var exact = Assert.IsType<RegressionPrediction>(scaled[row]).Mean[0];
            var standardError = Math.Sqrt(sampled.EpistemicVariance[0] / samples);
            Assert.InRange(sampled.Mean[0], exact - (4 * standardError), exact + (4 * standardError));
        }
    }

    [Fact]
    public void Zero_dropout_gives_zero_epistemic_variance_and_positive_dropout_positive_variance()
    {
        var inputs = TestNetworks.Inputs(rows: 3, features: 8);
        using var deterministic = TestNetworks.Predictor(TestNetworks.Regressor(p: 0) with { InputDropout = 0 });
        using var stochastic = TestNetworks.Predictor(TestNetworks.Regressor(p: 0.2));

        var none = deterministic.Predict(new McRequest { Inputs = inputs, Rows = 3, Samples = 50, Seed = 1 });
        var some = stochastic.Predict(new McRequest { Inputs = inputs, Rows = 3, Samples = 50, Seed = 1 });

        Assert.All(none.Rows, row => Assert.Equal(0, Assert.IsType<RegressionPrediction>(row).EpistemicVariance[0]));
        Assert.All(some.Rows, row => Assert.True(Assert.IsType<RegressionPrediction>(row).EpistemicVariance[0] > 0));
    }

    [Fact]
    public void Epistemic_variance_grows_away_from_the_training_data()
    {
        // y = sin(3x) + noise on x in [-1, 1]; one hidden ReLU layer (Gal and Ghahramani's UCI architecture).
        var random = new Random(2);
        var x = Enumerable.Range(0, 200).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        var y = x.Select(v => (float)(Math.Sin(3 * v) + (0.05 * ((random.NextDouble() * 2) - 1)))).ToArray();
        var spec = new NetworkSpec { Inputs = 1, Hidden = [256], HiddenDropout = [0.1] };
        var network = Trainer.CreateNetwork(spec, seed: 3);
        Trainer.Train(network, new TrainingSet(x, y), new TrainingOptions { Epochs = 200, BatchSize = 32, LearningRate = 3e-3, Seed = 3 });
        using var predictor = new McPredictor(network, CPU);

        var prediction = predictor.Predict(new McRequest { Inputs = [0f, 3f, -3f], Rows = 3, Samples = 2000, Seed = 8 });

        var atCentre = Regression(prediction, 0);
        Assert.InRange(atCentre.Mean[0], -0.15, 0.15); // it learnt sin(0) = 0
        foreach (var row in new[] { 1, 2 })
        {
            var farAway = Regression(prediction, row).EpistemicVariance[0];
            Assert.True(farAway >= 5 * atCentre.EpistemicVariance[0], $"variance at row {row} ({farAway}) is not 5x that at x=0 ({atCentre.EpistemicVariance[0]})");
        }
    }

    [Fact]
    public void Batched_pass_equals_a_loop_of_single_sample_passes()
    {
        var spec = TestNetworks.Regressor(p: 0.3);
        using var batched = TestNetworks.Predictor(spec);
        using var loop = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 1, UsePrefix = false });
        var request = new McRequest { Inputs = TestNetworks.Inputs(4, 8), Rows = 4, Samples = 64, Seed = 21 };

        var folded = batched.Predict(request);
        var oneAtATime = loop.Predict(request);

        Assert.Equal(1, loop.ChunkRows);
        TestNetworks.AssertSamePrediction(folded, oneAtATime);
    }

    [Fact]
    public void Chunked_equals_unchunked()
    {
        var spec = TestNetworks.Regressor(p: 0.3);
        using var whole = TestNetworks.Predictor(spec);
        using var chunked = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 32 * 7 });
        var request = new McRequest { Inputs = TestNetworks.Inputs(3, 8), Rows = 3, Samples = 100, Seed = 5 };

        var expected = whole.Predict(request);
        var actual = chunked.Predict(request);

        Assert.Equal(7, chunked.ChunkRows);
        TestNetworks.AssertSamePrediction(expected, actual);
    }

    [Fact]
    public void Prefix_on_equals_prefix_off()
    {
        // No input dropout: the first Linear and its activation are deterministic and form the prefix.
        var spec = TestNetworks.Regressor(p: 0.3) with { InputDropout = 0, Hidden = [48, 16] };
        using var withPrefix = TestNetworks.Predictor(spec);
        using var withoutPrefix = TestNetworks.Predictor(spec, new McOptions { UsePrefix = false });
        var request = new McRequest { Inputs = TestNetworks.Inputs(5, 8), Rows = 5, Samples = 40, Seed = 9 };

        Assert.Equal(2, Trainer.CreateNetwork(spec, 1).FirstStochasticStage);
        TestNetworks.AssertSamePrediction(withoutPrefix.Predict(request), withPrefix.Predict(request));
    }

    [Fact]
    public void Merged_requests_equal_the_same_requests_alone()
    {
        var spec = TestNetworks.Regressor(p: 0.25);
        using var predictor = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 32 * 50 });
        McRequest[] requests =
        [
            new() { Inputs = TestNetworks.Inputs(1, 8, seed: 1), Rows = 1, Samples = 100, Seed = 1 },
            new() { Inputs = TestNetworks.Inputs(3, 8, seed: 2), Rows = 3, Samples = 30, Seed = 2 },
            new() { Inputs = TestNetworks.Inputs(2, 8, seed: 3), Rows = 2, Samples = 77, Seed = 3, Tolerance = 1e-9 },
            new() { Inputs = TestNetworks.Inputs(1, 8, seed: 1), Rows = 1, Samples = 100, Seed = 4 },
        ];

        var merged = predictor.Predict(requests);

        for (int i = 0; i < requests.Length; i++)
        {
            TestNetworks.AssertSamePrediction(predictor.Predict(requests[i]), merged[i]);
        }

        // Requests 0 and 3 differ only by seed: fresh masks, different numbers.
        Assert.NotEqual(Regression(merged[0]).Mean[0], Regression(merged[3]).Mean[0]);
    }

    [Fact]
    public void A_cancelled_request_is_skipped_and_the_others_in_its_batch_are_unaffected()
    {
        using var predictor = TestNetworks.Predictor(TestNetworks.Regressor());
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var kept = new McRequest { Inputs = TestNetworks.Inputs(2, 8), Rows = 2, Samples = 40, Seed = 3 };

        var results = predictor.Predict([kept, kept with { Seed = 4, Cancellation = cancelled.Token }]);

        Assert.True(results[1].Cancelled);
        Assert.Equal(0, results[1].SamplesUsed);
        Assert.False(results[0].Cancelled);
        TestNetworks.AssertSamePrediction(predictor.Predict(kept), results[0]);
    }

    [Fact]
    public void Same_seed_gives_the_same_numbers()
    {
        using var predictor = TestNetworks.Predictor(TestNetworks.Regressor());
        var request = new McRequest { Inputs = TestNetworks.Inputs(2, 8), Rows = 2, Samples = 30, Seed = 77 };

        var first = predictor.Predict(request);
        var second = predictor.Predict(request);

        Assert.Equal(Regression(first).Mean, Regression(second).Mean);
        Assert.Equal(Regression(first).EpistemicVariance, Regression(second).EpistemicVariance);
    }

    [Fact]
    public void Ten_thousand_samples_run_in_bounded_chunks()
    {
        using var predictor = TestNetworks.Predictor(TestNetworks.Regressor(), new McOptions { MaxChunkElements = 32 * 4096 });

        var prediction = predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(20, 8), Rows = 20, Samples = 10_000, Seed = 3 });

        Assert.Equal(10_000, prediction.SamplesUsed);
        Assert.All(prediction.Rows, row => Assert.True(double.IsFinite(Assert.IsType<RegressionPrediction>(row).EpistemicVariance[0])));
    }

    [Fact]
    public void Adaptive_T_stops_once_the_standard_error_is_below_the_tolerance()
    {
        using var predictor = TestNetworks.Predictor(TestNetworks.Regressor());
        var inputs = TestNetworks.Inputs(2, 8);
        var probe = predictor.Predict(new McRequest { Inputs = inputs, Rows = 2, Samples = 200, Seed = 6 });
        var tolerance = probe.MaxStandardError * Math.Sqrt(200.0 / 1000); // about what T = 1000 reaches

        var adaptive = predictor.Predict(new McRequest { Inputs = inputs, Rows = 2, Samples = 100_000, Seed = 6, Tolerance = tolerance });
        var capped = predictor.Predict(new McRequest { Inputs = inputs, Rows = 2, Samples = 96, Seed = 6, Tolerance = tolerance });

        Assert.InRange(adaptive.SamplesUsed, 256, 4096);
        Assert.Equal(0, adaptive.SamplesUsed % 32);
        Assert.True(adaptive.MaxStandardError <= tolerance);
        Assert.Equal(96, capped.SamplesUsed);
    }

    [Fact]
    public void Classifier_entropy_splits_into_expected_entropy_and_mutual_information()
    {
        var spec = new NetworkSpec { Inputs = 8, Hidden = [32], HiddenDropout = [0.5], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 4 } };
        using var predictor = TestNetworks.Predictor(spec);

        var prediction = predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(10, 8), Rows = 10, Samples = 200, Seed = 2, ReturnSamples = true });

        foreach (var row in prediction.Rows.Cast<ClassPrediction>())
        {
            Assert.Equal(1.0, row.Probabilities.Sum(), 1e-9);
            Assert.Equal(row.Entropy, row.ExpectedEntropy + row.MutualInformation, 1e-12);
            Assert.True(row.MutualInformation >= -1e-12, $"mutual information {row.MutualInformation} is negative");
            Assert.InRange(row.VariationRatio, 0, 0.75);
            Assert.Equal(Array.IndexOf(row.Probabilities, row.Probabilities.Max()), row.Label);
            Assert.Equal(200, row.Samples!.Length);
            // The mean of the returned per-pass probabilities is the reported mean (float32 samples).
            TestNetworks.AssertClose(row.Probabilities, [.. Enumerable.Range(0, 4).Select(k => row.Samples.Average(s => (double)s[k]))], 1e-5);
        }

        Assert.Contains(prediction.Rows.Cast<ClassPrediction>(), row => row.MutualInformation > 1e-4);
    }

    [Fact]
    public void Deterministic_classifier_pass_has_no_mutual_information()
    {
        var spec = new NetworkSpec { Inputs = 8, Hidden = [32], HiddenDropout = [0.5], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 3 } };
        using var predictor = TestNetworks.Predictor(spec);

        var rows = predictor.PredictDeterministic(TestNetworks.Inputs(4, 8), 4);

        Assert.All(rows.Cast<ClassPrediction>(), row =>
        {
            Assert.Equal(0, row.MutualInformation, 12);
            Assert.Equal(0, row.VariationRatio);
        });
    }

    [Fact]
    public void MC_prediction_leaves_BatchNorm_running_statistics_unchanged()
    {
        var spec = TestNetworks.Regressor() with { Normalization = Normalization.BatchNorm };
        var network = Trainer.CreateNetwork(spec, 4);
        Trainer.Train(network, new TrainingSet(TestNetworks.Inputs(64, 8), TestNetworks.Inputs(64, 1, seed: 9)), new TrainingOptions { Epochs = 2, BatchSize = 16 });
        var before = network.state_dict().Where(kv => kv.Key.Contains("running") || kv.Key.Contains("batches")).ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        using var predictor = new McPredictor(network, CPU);

        predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(16, 8), Rows = 16, Samples = 50, Seed = 1 });

        Assert.NotEmpty(before);
        foreach (var (name, value) in network.state_dict().Where(kv => before.ContainsKey(kv.Key)))
        {
            Assert.True(value.equal(before[name]).all().item<bool>(), $"{name} changed during MC prediction");
        }
    }

    [Fact]
    public void Heteroscedastic_head_reports_its_learnt_noise_as_aleatoric_variance()
    {
        var spec = TestNetworks.Regressor() with { Head = new HeadSpec { Kind = HeadKind.HeteroscedasticRegression } };
        using var predictor = TestNetworks.Predictor(spec);

        var prediction = predictor.Predict(new McRequest { Inputs = TestNetworks.Inputs(2, 8), Rows = 2, Samples = 50, Seed = 3, ReturnSamples = true });

        var first = Regression(prediction, 0);
        var second = Regression(prediction, 1);
        Assert.True(first.AleatoricVariance[0] > 0);
        Assert.NotEqual(first.AleatoricVariance[0], second.AleatoricVariance[0]);
        Assert.Equal(first.EpistemicVariance[0] + first.AleatoricVariance[0], first.PredictiveVariance[0], 12);
    }

    [Fact]
    public void Interval_is_centred_on_the_mean_with_the_normal_quantile_of_the_predictive_std()
    {
        var row = new RegressionPrediction([10.0], [3.0], [1.0]);

        var (lower, upper) = row.Interval(0.95);

        Assert.Equal(10 - (1.959964 * 2), lower[0], 5);
        Assert.Equal(10 + (1.959964 * 2), upper[0], 5);
    }

    [Fact]
    public void Bfloat16_samples_the_same_networks_and_agrees_with_float32_to_its_precision()
    {
        var spec = TestNetworks.Regressor(inputs: 8, p: 0.2, 64, 64);
        using var exact = TestNetworks.Predictor(spec);
        using var reduced = TestNetworks.Predictor(spec, new McOptions { Precision = ComputePrecision.Bf16 });
        var inputs = TestNetworks.Inputs(rows: 6, features: 8);
        var request = new McRequest { Inputs = inputs, Rows = 6, Samples = 200, Seed = 11 };

        var a = exact.Predict(request);
        var b = reduced.Predict(request);

        // Same seeds, same masks: the only difference is rounding. bfloat16 keeps 8 mantissa bits (relative
        // error 2^-9 per value); through two hidden layers of 64 units the outputs move by about a percent of
        // their scale, so 5 % of the output scale bounds the mean and 10 % the spread. A different mask stream
        // would differ by about the epistemic std itself, far outside these bounds.
        var scale = Math.Sqrt(Enumerable.Range(0, 6).Average(r => Math.Pow(Regression(a, r).Mean[0], 2) + Regression(a, r).EpistemicVariance[0]));
        for (int row = 0; row < 6; row++)
        {
            Assert.InRange(Regression(b, row).Mean[0] - Regression(a, row).Mean[0], -0.05 * scale, 0.05 * scale);
            Assert.InRange(Math.Sqrt(Regression(b, row).EpistemicVariance[0]) - Math.Sqrt(Regression(a, row).EpistemicVariance[0]), -0.1 * scale, 0.1 * scale);
        }

        Assert.NotEqual(Regression(a).Mean[0], Regression(b).Mean[0]); // it really ran in bfloat16
    }

    [Theory]
    [InlineData(HeadKind.Regression)]
    [InlineData(HeadKind.HeteroscedasticRegression)]
    public void Statistics_reduced_on_the_device_equal_the_streamed_ones(HeadKind head)
    {
        var spec = TestNetworks.Regressor(inputs: 8, p: 0.2, 32) with { Head = new HeadSpec { Kind = head, Outputs = 2 } };
        var inputs = TestNetworks.Inputs(rows: 16, features: 8);
        var request = new McRequest { Inputs = inputs, Rows = 16, Samples = 96, Seed = 4 };
        using var streamed = TestNetworks.Predictor(spec, new McOptions { DeviceStatisticsMinValues = int.MaxValue });
        // Small chunks: several device-side blocks are merged into the running statistics (reproducible mode never reduces on the device).
        using var reduced = TestNetworks.Predictor(spec, new McOptions { DeviceStatisticsMinValues = 1, MaxChunkElements = 32 * 16 * 10, Reproducible = false });

        var a = streamed.Predict(request);
        var b = reduced.Predict(request);

        // Same passes, same numbers; only the order of double additions differs (pairwise merging vs Welford).
        Assert.Equal(a.SamplesUsed, b.SamplesUsed);
        for (int row = 0; row < 16; row++)
        {
            TestNetworks.AssertClose(Regression(a, row).Mean, Regression(b, row).Mean, relative: 1e-9, absolute: 1e-12);
            TestNetworks.AssertClose(Regression(a, row).EpistemicVariance, Regression(b, row).EpistemicVariance, relative: 1e-9, absolute: 1e-12);
            TestNetworks.AssertClose(Regression(a, row).AleatoricVariance, Regression(b, row).AleatoricVariance, relative: 1e-9, absolute: 1e-12);
        }
    }
}
