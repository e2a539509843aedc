using System.Text.Json;
using Uncertainty.Model.Data;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

/// <summary>Layer-list networks: spatial dropout, the predictor's folding/chunking/merging for a CNN, and import from PyTorch.</summary>
public sealed class ConvolutionalNetworkTests
{
    /// <summary>A small CNN over 1x8x8 images: a convolution stem before the first dropout (the prefix), spatial and element-wise dropout.</summary>
    internal static NetworkSpec SmallCnn(double spatial = 0.2, double dense = 0.5, int classes = 10) => new()
    {
        InputShape = [1, 8, 8],
        Layers =
        [
            new LayerSpec { Type = LayerType.Conv2d, Out = 6, Kernel = 3, Padding = 1 },
            LayerSpec.Of(LayerType.Relu),
            new LayerSpec { Type = LayerType.Dropout2d, P = spatial },
            new LayerSpec { Type = LayerType.MaxPool2d, Kernel = 2 },
            LayerSpec.Of(LayerType.Flatten),
            LayerSpec.LinearTo(24),
            LayerSpec.Of(LayerType.Relu),
            LayerSpec.DropoutOf(dense),
            LayerSpec.LinearTo(classes),
        ],
        Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = classes },
    };

    [Fact]
    public void Dropout2d_drops_whole_channels_at_rate_p_and_keeps_a_samples_mask_over_height_and_width()
    {
        const double p = 0.3;
        const int rows = 400, channels = 16;
        var spec = new NetworkSpec
        {
            InputShape = [channels, 5, 7],
            Layers = [new LayerSpec { Type = LayerType.Dropout2d, P = p }, LayerSpec.Of(LayerType.Flatten), LayerSpec.LinearTo(1)],
        };
        using var network = TestNetworks.Create(spec);
        using var masks = new DropoutMasks(CPU);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var plan = MaskPlan.ForTraining(seed: 11, step: 0, rows, layers: 1, CPU);

        var masked = network.RunStages(ones(rows, channels * 5 * 7), 0, 1, plan, masks).view(rows, channels, 35);

        var perChannel = masked.amax(2);
        // Every (row, channel) slice is all kept (1 / (1 - p)) or all dropped: its max equals its min.
        Assert.Equal(perChannel.data<float>().ToArray(), masked.amin(2).data<float>().ToArray());
        Assert.All(perChannel.data<float>().ToArray(), value => Assert.True(value == 0 || Math.Abs(value - (1 / (1 - p))) < 1e-6, $"mask value {value}"));
        // The dropped fraction of rows x channels independent Bernoulli(p) draws: within 4 standard errors of p.
        double dropped = perChannel.eq(0).to(ScalarType.Float64).mean().item<double>();
        double standardError = Math.Sqrt(p * (1 - p) / (rows * channels));
        Assert.InRange(dropped, p - (4 * standardError), p + (4 * standardError));
    }

    [Fact]
    public void Element_wise_dropout_on_a_feature_map_draws_every_value_on_its_own()
    {
        const double p = 0.4;
        const int rows = 50;
        var spec = new NetworkSpec
        {
            InputShape = [4, 6, 6],
            Layers = [LayerSpec.DropoutOf(p), LayerSpec.Of(LayerType.Flatten), LayerSpec.LinearTo(1)],
        };
        using var network = TestNetworks.Create(spec);
        using var masks = new DropoutMasks(CPU);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var plan = MaskPlan.ForTraining(seed: 3, step: 0, rows, layers: 1, CPU);

        var masked = network.RunStages(ones(rows, 144), 0, 1, plan, masks).view(rows, 4, 36);

        // Within one channel some positions are kept and others dropped (spatial dropout would keep all or none).
        var keptPerChannel = masked.gt(0).sum(2).to(ScalarType.Float64);
        Assert.True(keptPerChannel.gt(0).logical_and(keptPerChannel.lt(36)).all().item<bool>());
        double dropped = masked.eq(0).to(ScalarType.Float64).mean().item<double>();
        double standardError = Math.Sqrt(p * (1 - p) / (rows * 144));
        Assert.InRange(dropped, p - (4 * standardError), p + (4 * standardError));
    }

    [Fact]
    public void A_folded_CNN_pass_equals_a_loop_of_single_sample_passes()
    {
        var spec = SmallCnn();
        using var batched = TestNetworks.Predictor(spec);
        using var loop = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 1, UsePrefix = false });
        var request = new McRequest { Inputs = TestNetworks.Inputs(4, 64), Rows = 4, Samples = 48, Seed = 21 };

        TestNetworks.AssertSamePrediction(batched.Predict(request), loop.Predict(request));
        Assert.Equal(1, loop.ChunkRows);
    }

    [Fact]
    public void A_chunked_CNN_run_equals_an_unchunked_one()
    {
        var spec = SmallCnn();
        using var whole = TestNetworks.Predictor(spec);
        using var chunked = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 9L * spec.MaxWidth });
        var request = new McRequest { Inputs = TestNetworks.Inputs(3, 64), Rows = 3, Samples = 100, Seed = 5 };

        TestNetworks.AssertSamePrediction(whole.Predict(request), chunked.Predict(request));
        Assert.Equal(9, chunked.ChunkRows);
    }

    [Fact]
    public void The_convolution_stem_runs_once_as_a_prefix_with_the_same_results()
    {
        var spec = SmallCnn();
        using var withPrefix = TestNetworks.Predictor(spec);
        using var withoutPrefix = TestNetworks.Predictor(spec, new McOptions { UsePrefix = false });
        var request = new McRequest { Inputs = TestNetworks.Inputs(5, 64), Rows = 5, Samples = 40, Seed = 9 };

        Assert.Equal(2, Trainer.CreateNetwork(spec, 1).FirstStochasticStage); // conv2d and relu
        TestNetworks.AssertSamePrediction(withoutPrefix.Predict(request), withPrefix.Predict(request));
    }

    [Fact]
    public void Merged_CNN_requests_equal_the_same_requests_alone()
    {
        var spec = SmallCnn();
        using var predictor = TestNetworks.Predictor(spec, new McOptions { MaxChunkElements = 40L * spec.MaxWidth });
        McRequest[] requests =
        [
            new() { Inputs = TestNetworks.Inputs(1, 64, seed: 1), Rows = 1, Samples = 100, Seed = 1 },
            new() { Inputs = TestNetworks.Inputs(3, 64, seed: 2), Rows = 3, Samples = 30, Seed = 2, ReturnSamples = true },
            new() { Inputs = TestNetworks.Inputs(1, 64, seed: 1), Rows = 1, Samples = 100, Seed = 4 },
        ];

        var merged = predictor.Predict(requests);

        for (int i = 0; i < requests.Length; i++)
        {
            TestNetworks.AssertSamePrediction(predictor.Predict(requests[i]), merged[i]);
        }

        Assert.NotEqual(((ClassPrediction)merged[0].Rows[0]).Probabilities, ((ClassPrediction)merged[2].Rows[0]).Probabilities);
    }

    [Fact]
    public void A_small_CNN_trained_on_the_bundled_digits_learns()
    {
        var digits = BundledDatasets.Load("digits");
        var split = Splits.Random(digits.Rows, 0.25, seed: 5);
        var (train, test) = (digits.Subset(split.Train), digits.Subset(split.Test));
        var options = new TrainingOptions { Epochs = 6, BatchSize = 32, LearningRate = 3e-3, Optimizer = OptimizerKind.AdamW, WeightDecay = 1e-4, Seed = 2016 };

        using var package = TrainingPipeline.Fit(train, SmallCnn(spatial: 0.1, dense: 0.3), options);
        using var predictor = new McPredictor(package.Network, CPU);
        var prediction = predictor.Predict(new McRequest { Inputs = package.Description.PrepareInputs(test.Features), Rows = test.Rows, Samples = 20, Seed = 1 });

        // Chance is 10 %; a linear model reaches about 95 % on this split, so 85 % means the convolutions learnt.
        double accuracy = prediction.Rows.Select((row, i) => ((ClassPrediction)row).Label == (int)test.Targets[i] ? 1.0 : 0.0).Average();
        Assert.True(accuracy >= 0.85, $"accuracy {accuracy:P1}");
        Assert.Equal([1, 8, 8], package.Description.Network.InputShape!);
    }

    public static TheoryData<string> References() => ["cnn", "mlp", "lstm", "gru-text", "transformer", "transformer-prenorm"];

    /// <summary>
    /// The committed fixture (Reference/make_reference.py, PyTorch 1.13): weights saved from a torch.nn.ModuleList built from the
    /// spec, its eval-mode outputs and its own MC dropout statistics over 20,000 passes.
    /// </summary>
    [Theory]
    [MemberData(nameof(References))]
    public void Weights_exported_from_PyTorch_give_PyTorchs_outputs_and_MC_statistics(string name)
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "Reference");
        var spec = NetworkSpec.FromJson(File.ReadAllText(Path.Combine(folder, $"{name}-spec.json")));
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, $"{name}-reference.json")));
        var root = reference.RootElement;
        double[][] Matrix(JsonElement element) => [.. element.EnumerateArray().Select(row => row.EnumerateArray().Select(v => v.GetDouble()).ToArray())];
        var inputs = Matrix(root.GetProperty("inputs"));
        var deterministic = Matrix(root.GetProperty("deterministic"));
        var mc = root.GetProperty("mc");
        var (theirMean, theirVariance) = (Matrix(mc.GetProperty("mean")), Matrix(mc.GetProperty("variance")));
        var (meanError, varianceError) = (Matrix(mc.GetProperty("meanStandardError")), Matrix(mc.GetProperty("varianceStandardError")));
        int rows = inputs.Length, samples = mc.GetProperty("samples").GetInt32();
        float[] flat = [.. inputs.SelectMany(row => row.Select(v => (float)v))];
        if (root.TryGetProperty("lengths", out var lengths) && spec.IsSequence && !spec.IsTokenSequence)
        {
            // Numeric sequences: the steps past each row's length are padding, which the service writes as NaN steps.
            int steps = spec.ResolvedInputShape[0], features = spec.ResolvedInputShape[1], r = 0;
            foreach (var length in lengths.EnumerateArray().Select(l => l.GetInt32()))
            {
                flat.AsSpan((r * steps * features) + (length * features), (steps - length) * features).Fill(float.NaN);
                r++;
            }
        }

        using var weights = File.OpenRead(Path.Combine(folder, $"{name}.safetensors"));

        using var package = SafetensorsImport.Import(weights, new ModelDescription { Network = spec, InputScaling = Standardizer.Identity(spec.Inputs) });
        using var predictor = new McPredictor(package.Network, CPU);

        // Deterministic: the same arithmetic, so float32 rounding apart (max abs diff 1e-5).
        using (var scope = NewDisposeScope())
        using (var inference = inference_mode())
        {
            var ours = package.Network.call(tensor(flat, [rows, spec.Inputs])).data<float>().ToArray();
            for (int i = 0; i < ours.Length; i++)
            {
                Assert.True(Math.Abs(ours[i] - deterministic[i / spec.HeadWidth][i % spec.HeadWidth]) <= 1e-5, $"output {i}: {ours[i]} vs PyTorch's {deterministic[i / spec.HeadWidth][i % spec.HeadWidth]}");
            }
        }

        // MC: our masks come from our seeded hash, PyTorch's from its RNG, so the two estimates agree within Monte Carlo error:
        // their difference has standard error sqrt(se_ours^2 + se_theirs^2), with the same T on both sides (se_ours ~ se_theirs).
        var prediction = predictor.Predict(new McRequest { Inputs = flat, Rows = rows, Samples = samples, Seed = 2016 });
        for (int r = 0; r < rows; r++)
        {
            var (mean, variance) = prediction.Rows[r] switch
            {
                ClassPrediction c => (c.Probabilities, c.ProbabilityStd.Select(s => s * s).ToArray()),
                RegressionPrediction g => (g.Mean, g.EpistemicVariance),
                _ => throw new InvalidOperationException(),
            };
            for (int o = 0; o < mean.Length; o++)
            {
                double meanBound = 4.5 * Math.Sqrt(2) * meanError[r][o], varianceBound = 4.5 * Math.Sqrt(2) * varianceError[r][o];
                Assert.True(Math.Abs(mean[o] - theirMean[r][o]) <= meanBound, $"row {r} output {o}: MC mean {mean[o]} vs PyTorch's {theirMean[r][o]} (bound {meanBound})");
                Assert.True(Math.Abs(variance[o] - theirVariance[r][o]) <= varianceBound, $"row {r} output {o}: MC variance {variance[o]} vs PyTorch's {theirVariance[r][o]} (bound {varianceBound})");
            }
        }
    }

    [Fact]
    public void Layer_lists_round_trip_through_json_with_pytorch_style_type_names()
    {
        var json = SmallCnn().ToJson();

        Assert.Contains("\"type\": \"maxPool2d\"", json, StringComparison.Ordinal);
        Assert.Contains("\"type\": \"dropout2d\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("hidden", json, StringComparison.Ordinal);
        var back = NetworkSpec.FromJson(json);
        Assert.Equal(SmallCnn().Layers!, back.Layers!);
        Assert.Equal(64, back.Inputs);
    }

    [Fact]
    public void Parameter_count_and_widest_activation_come_from_the_shapes()
    {
        var spec = SmallCnn();

        // conv 1->6 3x3: 6*9+6; linear 6*4*4 -> 24: 96*24+24; linear 24 -> 10: 250.
        Assert.Equal(60 + (96 * 24) + 24 + 250, spec.ParameterCount);
        Assert.Equal(6 * 8 * 8, spec.MaxWidth);
        using var network = TestNetworks.Create(spec);
        Assert.Equal(spec.ParameterCount, network.parameters().Sum(p => p.numel()));
    }

    [Fact]
    public void Compute_and_training_memory_per_row_come_from_the_shapes()
    {
        var spec = SmallCnn();

        // conv: 6 x 8 x 8 outputs x 1 x 3 x 3; relu, dropout2d 384 each; pool 96 outputs x 2 x 2; flatten 96;
        // linear 96 -> 24; relu, dropout 24 each; linear 24 -> 10.
        Assert.Equal((384 * 9) + (2 * 384) + (96 * 4) + 96 + (96 * 24) + (2 * 24) + (24 * 10), spec.MultiplyAddsPerRow);
        // A wide pooling window over a large picture is costly with no parameters at all.
        var pooling = new NetworkSpec
        {
            InputShape = [1, 1000, 1000],
            Layers = [new LayerSpec { Type = LayerType.MaxPool2d, Kernel = 301, Stride = 1, Padding = 150 }, new LayerSpec { Type = LayerType.AdaptiveAvgPool2d, Size = 1 }, LayerSpec.Of(LayerType.Flatten), LayerSpec.LinearTo(1)],
        };
        Assert.True(pooling.MultiplyAddsPerRow > 90_000_000_000L, $"{pooling.MultiplyAddsPerRow}");
        // input 64; conv, relu, dropout2d 384 each; pool 96, flatten 96, linear 24, relu 24, dropout 24, linear 10.
        Assert.Equal(64 + (3 * 384) + 96 + 96 + (3 * 24) + 10, spec.ActivationValuesPerRow);
    }

    [Fact]
    public void Dataset_pictures_are_brought_to_the_models_pixel_range_and_background()
    {
        var images = new ImageDataset("tiny", 1, 2, 2, [0, 255, 0, 0, 255, 0, 0, 0], [1, 2], ["a", "b", "c"], 255);

        var pytorch = new ImageInput(1, 2, 2, 1.0, ImageBackground.Dark).RowsOf(images);
        var inverted = new ImageInput(1, 2, 2, 16, ImageBackground.Light).RowsOf(images);

        Assert.Equal([0f, 1f, 0f, 0f, 1f, 0f, 0f, 0f], pytorch.Features);
        Assert.Equal([16f, 0f, 16f, 16f, 0f, 16f, 16f, 16f], inverted.Features);
        Assert.Throws<ArgumentException>(() => new ImageInput(1, 3, 3, 1, ImageBackground.Dark).RowsOf(images));
    }

    public static TheoryData<string, string> BadSpecs() => new()
    {
        { """{"inputShape":[1,8,8],"layers":[{"type":"linear","out":10}],"head":{"kind":"classification","outputs":10}}""", "must end in [10] values per row" },
        { """{"inputShape":[16],"layers":[{"type":"conv2d","out":4,"kernel":3},{"type":"flatten"},{"type":"linear","out":1}]}""", "'layers[0]' (conv2d) needs a [channels, height, width] input" },
        { """{"inputShape":[1,4,4],"layers":[{"type":"conv2d","out":4,"kernel":7},{"type":"flatten"},{"type":"linear","out":1}]}""", "7x7 kernel larger than its padded 4x4 input" },
        { """{"inputShape":[1,4,4],"layers":[{"type":"relu","out":3},{"type":"flatten"},{"type":"linear","out":1}]}""", "'layers[0]' (relu) does not take 'out'" },
        { """{"inputShape":[1,4,4],"layers":[{"type":"dropout2d","p":1},{"type":"flatten"},{"type":"linear","out":1}]}""", "needs 'p' in [0, 1)" },
        { """{"inputShape":[4],"hidden":[8],"layers":[{"type":"linear","out":1}]}""", "replaces the MLP shorthand" },
        { """{"inputs":5,"inputShape":[4],"layers":[{"type":"linear","out":1}]}""", "'inputs' (5) does not match inputShape [4]" },
        { """{"inputShape":[1,4,4],"layers":[{"type":"conv2d","out":1,"kernel":1,"padding":2000000000},{"type":"flatten"},{"type":"linear","out":1}]}""", "beyond 2^31 positions" },
        { $$"""{"inputShape":[4],"layers":[{{string.Join(",", Enumerable.Repeat("""{"type":"relu"}""", 1100))}},{"type":"linear","out":1}]}""", "at most 1024 are accepted" },
    };

    [Theory]
    [MemberData(nameof(BadSpecs))]
    public void A_spec_that_does_not_fit_is_refused_naming_the_layer_and_field(string json, string message)
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => NetworkSpec.FromJson(json));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
