using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public class RegularizationTests
{
    private static float[] Weights(DropoutNetwork network) => [.. network.parameters().SelectMany(p => p.data<float>().ToArray())];

    private static (float[] X, float[] Y) Data(int rows, int seed = 1)
    {
        var x = TestNetworks.Inputs(rows, 4, seed);
        return (x, [.. Enumerable.Range(0, rows).Select(r => (x[r * 4] * 0.5f) - x[(r * 4) + 1])]);
    }

    private static readonly NetworkSpec Small = new() { Inputs = 4, Hidden = [8], HiddenDropout = [0.2] };

    /// <summary>One full-batch step from the same start; returns the weights after it.</summary>
    private static float[] OneStep(TrainingOptions options)
    {
        var (x, y) = Data(32);
        var network = Trainer.CreateNetwork(Small, 5);
        Trainer.Train(network, new TrainingSet(x, y), options with { Epochs = 1, BatchSize = 32, Seed = 5 });
        return Weights(network);
    }

    [Fact]
    public void Smoothed_targets_put_one_minus_a_plus_a_over_K_on_the_label_and_a_over_K_elsewhere()
    {
        var targets = Regularization.SmoothedTargets([2, 0], classes: 4, smoothing: 0.2);

        Assert.Equal([0.05f, 0.05f, 0.85f, 0.05f, 0.85f, 0.05f, 0.05f, 0.05f], targets, (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.Equal(1.0, targets.Take(4).Sum(), 6);
    }

    [Fact]
    public void Mixup_makes_each_row_a_convex_combination_of_two_rows_with_one_lambda_in_the_unit_interval()
    {
        float[] inputs = [0, 0, 10, 10, 20, 20, 30, 30];
        float[] targets = [1, 2, 3, 4];
        var originalInputs = inputs.ToArray();
        var originalTargets = targets.ToArray();

        var lambda = Regularization.Mixup(inputs, 2, targets, 1, alpha: 0.4, new Random(3));

        Assert.InRange(lambda, 0, 1);
        for (int r = 0; r < 4; r++)
        {
            // Row r = lambda x_r + (1 - lambda) x_j for some partner j, with the same j for inputs and target.
            var partners = Enumerable.Range(0, 4).Where(j =>
                Math.Abs(inputs[r * 2] - ((lambda * originalInputs[r * 2]) + ((1 - lambda) * originalInputs[j * 2]))) < 1e-4 &&
                Math.Abs(targets[r] - ((lambda * originalTargets[r]) + ((1 - lambda) * originalTargets[j]))) < 1e-4);
            Assert.NotEmpty(partners);
        }
    }

    [Fact]
    public void Coupled_and_decoupled_decay_give_the_same_SGD_update()
    {
        var sgd = new TrainingOptions { Optimizer = OptimizerKind.Sgd, Momentum = 0, LearningRate = 0.1, WeightDecay = 0.5 };

        var coupled = OneStep(sgd);
        var decoupled = OneStep(sgd with { DecoupledWeightDecay = true });
        var none = OneStep(sgd with { WeightDecay = 0 });

        Assert.Equal(coupled, decoupled, (a, b) => Math.Abs(a - b) < 1e-6);
        Assert.NotEqual(coupled, none);
    }

    [Fact]
    public void Coupled_and_decoupled_decay_give_different_Adam_updates()
    {
        var adam = new TrainingOptions { Optimizer = OptimizerKind.Adam, LearningRate = 0.01, WeightDecay = 0.5 };

        var coupled = OneStep(adam);
        var decoupled = OneStep(adam with { Optimizer = OptimizerKind.AdamW });

        var largest = coupled.Zip(decoupled, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(largest > 1e-4, $"Adam with L2 and AdamW moved the weights alike (largest difference {largest})");
    }

    [Fact]
    public void Gal_weight_decay_follows_the_prior_length_scale_formula()
    {
        // l^2 (1 - p) / (2 N tau) per unit of |w|^2 in the loss, i.e. twice that as a gradient coefficient.
        Assert.Equal(2 * (1e-4 * 0.95 / (2 * 364 * 0.15)), Regularization.WeightDecayFromPrior(1e-2, 0.05, 364, 0.15), 15);
        var spec = Small with { Head = new HeadSpec { Tau = 0.15 }, HiddenDropout = [0.05] };
        Assert.Equal(Regularization.WeightDecayFromPrior(1e-2, 0.05, 364, 0.15), Trainer.WeightDecayFor(spec, 364, new TrainingOptions { PriorLengthScale = 1e-2 }), 15);
    }

    [Fact]
    public void Max_norm_bounds_every_units_incoming_weights()
    {
        var (x, y) = Data(64);
        var network = Trainer.CreateNetwork(Small, 2);

        Trainer.Train(network, new TrainingSet(x, y), new TrainingOptions { Epochs = 20, BatchSize = 16, LearningRate = 0.05, MaxNorm = 0.5 });

        foreach (var (name, weight) in network.named_parameters().Where(p => p.name.EndsWith("weight", StringComparison.Ordinal)))
        {
            var norms = weight.norm(1, keepdim: false).data<float>().ToArray();
            Assert.All(norms, n => Assert.True(n <= 0.5 + 1e-5, $"{name}: a row norm is {n}"));
        }
    }

    [Fact]
    public void Early_stopping_restores_the_best_epoch()
    {
        // A noisy target and a large network overfit: the validation loss turns up and training stops.
        var random = new Random(4);
        var x = TestNetworks.Inputs(80, 4, seed: 4);
        var y = x.Where((_, i) => i % 4 == 0).Select(v => v + (float)random.NextDouble()).ToArray();
        var validationX = TestNetworks.Inputs(40, 4, seed: 8);
        var validationY = validationX.Where((_, i) => i % 4 == 0).Select(v => v + (float)random.NextDouble()).ToArray();
        var network = Trainer.CreateNetwork(Small with { Hidden = [128, 128], HiddenDropout = [0] }, 3);
        var set = new TrainingSet(x, y) { ValidationInputs = validationX, ValidationTargets = validationY };

        var summary = Trainer.Train(network, set, new TrainingOptions { Epochs = 400, BatchSize = 16, LearningRate = 0.01, ValidationFraction = 0.2, Patience = 10 });

        Assert.True(summary.StoppedEarly);
        Assert.Equal(summary.BestEpoch + 10, summary.Epochs);
        Assert.Equal(summary.History.Min(h => h.ValidationLoss), summary.BestValidationLoss);
        // The restored weights give the best epoch's validation loss again.
        using var inputs = tensor(validationX, [40, 4]);
        using var targets = tensor(validationY, [40, 1]);
        using var output = network.call(inputs);
        using var loss = nn.functional.mse_loss(output, targets);
        Assert.Equal(summary.BestValidationLoss!.Value, loss.item<float>(), 5);
    }

    [Fact]
    public void Same_seed_gives_the_same_weights_with_every_augmentation_on()
    {
        var data = BundledDatasets.Load("digits").Subset([.. Enumerable.Range(0, 200)]);
        var scaling = Standardizer.Fit(data.Features, data.Columns);
        var set = new TrainingSet(scaling.Transform(data.Features), data.Targets) { InputScaling = scaling };
        var spec = new NetworkSpec { Inputs = 64, Hidden = [32], HiddenDropout = [0.3], Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 10 } };
        var options = new TrainingOptions
        {
            Epochs = 3,
            BatchSize = 32,
            Seed = 9,
            LabelSmoothing = 0.1,
            MixupAlpha = 0.2,
            InputNoise = 0.1,
            Image = new ImageAugmentation { Height = 8, Width = 8, MaxShift = 1, CutoutProbability = 0.5, ErasingProbability = 0.5 },
        };

        var first = Trainer.CreateNetwork(spec, 9);
        Trainer.Train(first, set, options);
        var second = Trainer.CreateNetwork(spec, 9);
        Trainer.Train(second, set, options);
        var other = Trainer.CreateNetwork(spec, 9);
        Trainer.Train(other, set, options with { Seed = 10 });

        Assert.Equal(Weights(first), Weights(second));
        Assert.NotEqual(Weights(first), Weights(other));
    }

    [Fact]
    public void Image_augmentation_shifts_flips_and_erases_within_the_image()
    {
        var image = Enumerable.Range(1, 16).Select(v => (float)v).ToArray(); // 4x4, all non-zero
        var shifted = image.ToArray();
        ImageAugmenter.Apply(shifted, new ImageAugmentation { Height = 4, Width = 4, MaxShift = 0, HorizontalFlip = true }, new FixedRandom(1));
        Assert.Equal([4f, 3, 2, 1], shifted[..4]); // mirrored rows

        var erased = image.ToArray();
        ImageAugmenter.Apply(erased, new ImageAugmentation { Height = 4, Width = 4, MaxShift = 0, CutoutProbability = 1, CutoutSize = 2 }, new Random(2));
        Assert.InRange(erased.Count(v => v == 0), 1, 4);
        Assert.Equal(image.Where(v => !erased.Contains(v)).Count(), erased.Count(v => v == 0));
    }

    [Theory]
    [InlineData(LearningRateSchedule.Constant, 0, 0.1)]
    [InlineData(LearningRateSchedule.Constant, 99, 0.1)]
    [InlineData(LearningRateSchedule.Step, 29, 0.1)]
    [InlineData(LearningRateSchedule.Step, 30, 0.01)]
    [InlineData(LearningRateSchedule.Step, 60, 0.001)]
    [InlineData(LearningRateSchedule.Cosine, 0, 0.1)]
    [InlineData(LearningRateSchedule.Cosine, 50, 0.05)]
    public void Learning_rate_schedules(LearningRateSchedule schedule, int epoch, double expected) =>
        Assert.Equal(expected, Trainer.LearningRateAt(new TrainingOptions { LearningRate = 0.1, Epochs = 100, Schedule = schedule }, epoch), 12);

    [Theory]
    [InlineData("{\"epochs\": 0}", "epochs")]
    [InlineData("{\"patience\": 5}", "patience")]
    [InlineData("{\"labelSmoothing\": 1.5}", "labelSmoothing")]
    [InlineData("{\"image\": {\"height\": 8, \"width\": 8, \"cutoutProbability\": 2}}", "image.cutoutProbability")]
    public void Invalid_training_options_name_the_option(string json, string option)
    {
        var options = System.Text.Json.JsonSerializer.Deserialize<TrainingOptions>(json, NetworkSpec.Json)!;

        var error = Assert.Throws<ArgumentException>(options.Validate);

        Assert.Contains($"'{option}'", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A Random whose Next(2) is always 1 (flip) and shifts are 0.</summary>
    private sealed class FixedRandom(int value) : Random
    {
        public override int Next(int minValue, int maxValue) => Math.Clamp(0, minValue, maxValue - 1);

        public override int Next(int maxValue) => Math.Min(value, maxValue - 1);

        public override double NextDouble() => 0.99;
    }
}
