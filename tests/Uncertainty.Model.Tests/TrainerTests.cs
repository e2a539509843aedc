using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;

namespace Uncertainty.Model.Tests;

public class TrainerTests
{
    private static float[] Weights(DropoutNetwork network) =>
        [.. network.parameters().SelectMany(p => p.data<float>().ToArray())];

    private static (float[] X, float[] Y) LinearData(int rows)
    {
        var x = TestNetworks.Inputs(rows, 4);
        var y = Enumerable.Range(0, rows).Select(r => (x[r * 4] * 0.5f) - x[(r * 4) + 2] + 0.3f).ToArray();
        return (x, y);
    }

    [Fact]
    public void Same_seed_and_data_give_the_same_weights()
    {
        var (x, y) = LinearData(64);
        var spec = new NetworkSpec { Inputs = 4, Hidden = [16], HiddenDropout = [0.2], InputDropout = 0.1 };
        var options = new TrainingOptions { Epochs = 5, BatchSize = 16, Seed = 42 };

        var first = Trainer.CreateNetwork(spec, 42);
        Trainer.Train(first, new TrainingSet(x, y), options);
        var second = Trainer.CreateNetwork(spec, 42);
        Trainer.Train(second, new TrainingSet(x, y), options);
        var other = Trainer.CreateNetwork(spec, 43);
        Trainer.Train(other, new TrainingSet(x, y), options with { Seed = 43 });

        Assert.Equal(Weights(first), Weights(second));
        Assert.NotEqual(Weights(first), Weights(other));
    }

    [Theory]
    [InlineData(HeadKind.Regression)]
    [InlineData(HeadKind.HeteroscedasticRegression)]
    [InlineData(HeadKind.Classification)]
    public void Training_reduces_the_loss_for_every_head(HeadKind head)
    {
        var (x, y) = LinearData(256);
        var targets = head == HeadKind.Classification ? [.. y.Select(v => v > 0 ? 1f : 0f)] : y;
        var spec = new NetworkSpec { Inputs = 4, Hidden = [32], HiddenDropout = [0.1], Head = new HeadSpec { Kind = head, Outputs = head == HeadKind.Classification ? 2 : 1 } };

        var untrained = Trainer.Train(Trainer.CreateNetwork(spec, 1), new TrainingSet(x, targets), new TrainingOptions { Epochs = 1, LearningRate = 1e-6, Seed = 1 });
        var trained = Trainer.Train(Trainer.CreateNetwork(spec, 1), new TrainingSet(x, targets), new TrainingOptions { Epochs = 60, BatchSize = 32, LearningRate = 1e-2, Seed = 1 });

        Assert.True(trained.FinalLoss < 0.5 * untrained.FinalLoss, $"loss {untrained.FinalLoss} -> {trained.FinalLoss}");
    }
}
