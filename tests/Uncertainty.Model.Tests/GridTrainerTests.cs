using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;

namespace Uncertainty.Model.Tests;

public class GridTrainerTests
{
    // The stacked network computes each configuration's products with batched kernels, the network alone with addmm: the
    // sums are rounded in a different order (float32, ~1e-7 relative per product), and a few dozen Adam steps carry such
    // differences forward without amplifying them (measured: at most 1.2e-7). Weights are O(0.1-1), so 1e-5 is well above rounding and
    // far below the differences between configurations (checked below to be above 1e-2).
    private const double WeightTolerance = 1e-5;

    private static float[] Weights(DropoutNetwork network) =>
        [.. network.parameters().SelectMany(p => p.data<float>().ToArray())];

    private static (float[] X, float[] Y) Data(int rows)
    {
        var x = TestNetworks.Inputs(rows, 4);
        var y = Enumerable.Range(0, rows).Select(r => (x[r * 4] * 0.5f) - x[(r * 4) + 2] + (0.3f * x[(r * 4) + 1] * x[(r * 4) + 3])).ToArray();
        return (x, y);
    }

    // Different rates at each site, one site switched off (its network numbers its mask streams differently), and decays.
    private static readonly GridConfiguration[] Grid =
    [
        new(new NetworkSpec { Inputs = 4, Hidden = [16, 8], InputDropout = 0.1, HiddenDropout = [0.2, 0.3] }, 1e-3),
        new(new NetworkSpec { Inputs = 4, Hidden = [16, 8], InputDropout = 0, HiddenDropout = [0.5, 0.05] }, 0),
        new(new NetworkSpec { Inputs = 4, Hidden = [16, 8], InputDropout = 0.05, HiddenDropout = [0.05], Head = new HeadSpec { Tau = 3 } }, 5e-2),
    ];

    [Theory]
    [InlineData(OptimizerKind.Adam, Activation.Relu)]
    [InlineData(OptimizerKind.AdamW, Activation.Relu)]
    [InlineData(OptimizerKind.Sgd, Activation.Relu)]
    [InlineData(OptimizerKind.Adam, Activation.Tanh)]
    [InlineData(OptimizerKind.Adam, Activation.Sigmoid)]
    [InlineData(OptimizerKind.Adam, Activation.Elu)]
    [InlineData(OptimizerKind.Adam, Activation.LeakyRelu)]
    public void A_stacked_grid_gives_each_configuration_the_weights_of_training_it_alone(OptimizerKind optimizer, Activation activation)
    {
        // Its backward pass is written out; training alone uses autograd, so this also checks those gradients.
        var grid = Grid.Select(c => c with { Network = c.Network with { Activation = activation } }).ToArray();
        var (x, y) = Data(90); // batches of 16 and a last one of 10
        var options = new TrainingOptions { Epochs = 4, BatchSize = 16, LearningRate = 1e-2, Optimizer = optimizer, Seed = 11 };

        var stacked = GridTrainer.Train(grid, new TrainingSet(x, y), options);

        Assert.Equal(grid.Length, stacked.Count);
        for (int k = 0; k < grid.Length; k++)
        {
            var alone = Trainer.CreateNetwork(grid[k].Network, options.Seed);
            var summary = Trainer.Train(alone, new TrainingSet(x, y), options with { WeightDecay = grid[k].WeightDecay });
            var expected = Weights(alone);
            var actual = Weights(stacked[k].Network);
            Assert.Equal(expected.Length, actual.Length);
            double difference = expected.Zip(actual, (a, b) => Math.Abs(a - b)).Max();
            Assert.True(difference <= WeightTolerance, $"configuration {k}: max weight difference {difference}");
            Assert.Equal(summary.FinalLoss, stacked[k].Summary.FinalLoss, 4);
            Assert.Equal(grid[k].WeightDecay, stacked[k].Summary.WeightDecay);
        }

        // Otherwise the comparison could pass with every configuration trained the same way.
        double between = Weights(stacked[0].Network).Zip(Weights(stacked[1].Network), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(between > 1e-2, $"configurations 0 and 1 differ by only {between}");
    }

    [Fact]
    public void Configurations_of_different_shapes_or_unsupported_options_are_refused()
    {
        var (x, y) = Data(32);
        GridConfiguration[] shapes = [Grid[0], new(new NetworkSpec { Inputs = 4, Hidden = [12, 8], HiddenDropout = [0.1] }, 0)];
        var error = Assert.Throws<ArgumentException>(() => GridTrainer.Train(shapes, new TrainingSet(x, y), new TrainingOptions { Epochs = 1 }));
        Assert.Contains("shape", error.Message);

        error = Assert.Throws<ArgumentException>(() => GridTrainer.Train(Grid, new TrainingSet(x, y), new TrainingOptions { Epochs = 1, MaxNorm = 3 }));
        Assert.Contains("max-norm", error.Message);

        GridConfiguration[] gelu = [new(new NetworkSpec { Inputs = 4, Activation = Activation.Gelu }, 0)];
        error = Assert.Throws<ArgumentException>(() => GridTrainer.Train(gelu, new TrainingSet(x, y), new TrainingOptions { Epochs = 1 }));
        Assert.Contains("GELU", error.Message);

        GridConfiguration[] classifier = [new(new NetworkSpec { Inputs = 4, Head = new HeadSpec { Kind = HeadKind.Classification, Outputs = 2 } }, 0)];
        error = Assert.Throws<ArgumentException>(() => GridTrainer.Train(classifier, new TrainingSet(x, y), new TrainingOptions { Epochs = 1 }));
        Assert.Contains("regression", error.Message);
    }

    [Fact]
    public void Every_epoch_reports_the_mean_loss_of_the_configurations_and_a_step_that_cannot_be_computed_says_training_diverged()
    {
        var (x, y) = Data(40);
        var options = new TrainingOptions { Epochs = 3, BatchSize = 16, Seed = 2 };
        var reports = new List<TrainingProgress>();

        var trained = GridTrainer.Train(Grid, new TrainingSet(x, y), options, progress: new Collect(reports));

        Assert.Equal([1, 2, 3], reports.Select(r => r.Epoch));
        Assert.All(reports, r => Assert.Equal(3, r.Epochs));
        Assert.Equal(trained.Average(t => t.Summary.FinalLoss), reports[^1].TrainLoss, 6);

        // A learning rate whose Adam step is beyond float's range: libtorch refuses the update.
        var error = Assert.Throws<ArithmeticException>(() => GridTrainer.Train(Grid, new TrainingSet(x, y), options with { LearningRate = 1e308 }));
        Assert.Contains("Training diverged", error.Message);
    }

    private sealed class Collect(List<TrainingProgress> reports) : IProgress<TrainingProgress>
    {
        public void Report(TrainingProgress value) => reports.Add(value);
    }

    [Fact]
    public void The_protocol_picks_the_same_point_and_scores_whether_its_grid_is_stacked_or_not()
    {
        var (x, y) = Data(120);
        var data = new Dataset("synthetic", ["a", "b", "c", "d"], x, "y", y);
        var splits = Splits.Random(data.Rows, 0.2, 5, count: 2);
        var options = new ReproductionOptions { Hidden = 16, Epochs = 20, BatchSize = 32, DropoutGrid = [0.01, 0.1], TauGrid = [0.5, 5], Samples = 200, Seed = 3 };

        var stacked = Reproduction.Run(data, splits, options);
        var alone = Reproduction.Run(data, splits, options with { StackedGrid = false });

        for (int k = 0; k < splits.Count; k++)
        {
            Assert.Equal(alone.Splits[k].Dropout, stacked.Splits[k].Dropout);
            Assert.Equal(alone.Splits[k].Tau, stacked.Splits[k].Tau);
            // The same weights within rounding (see above) and the same masks: the validation log-likelihoods agree closely.
            Assert.Equal(alone.Splits[k].ValidationLogLikelihood, stacked.Splits[k].ValidationLogLikelihood, 3);
            Assert.Equal(alone.Splits[k].McRmse, stacked.Splits[k].McRmse, 3);
        }
    }
}
