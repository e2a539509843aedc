using Uncertainty.Model.Data;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;
using Uncertainty.Model.Training;

namespace Uncertainty.Api.Models;

/// <summary>Models the service provides itself when its store is empty, so a fresh start serves predictions with no setup.</summary>
public static class DefaultModels
{
    public const string Toy = "toy";

    /// <summary>
    /// A 1-D regressor of y = sin(3x) + noise trained on x in [-1, 1] (one hidden layer of 256 ReLU units,
    /// dropout 0.1): its epistemic variance grows visibly outside the training range. Trains in about a second.
    /// </summary>
    public static ModelPackage TrainToy()
    {
        var random = new Random(2016);
        var x = Enumerable.Range(0, 256).Select(_ => (float)((random.NextDouble() * 2) - 1)).ToArray();
        var y = x.Select(v => (float)(Math.Sin(3 * v) + (0.1 * Normal(random)))).ToArray();
        var inputScaling = Standardizer.Fit(x, 1);
        var targetScaling = Standardizer.Fit(y, 1);
        var spec = new NetworkSpec { Inputs = 1, Hidden = [256], HiddenDropout = [0.1], Head = new HeadSpec { Tau = 50 } };
        var network = Trainer.CreateNetwork(spec, seed: 2016);
        var summary = Trainer.Train(network, new TrainingSet(inputScaling.Transform(x), targetScaling.Transform(y)), new TrainingOptions { Epochs = 200, BatchSize = 32, LearningRate = 3e-3, Seed = 2016 });
        var description = new ModelDescription
        {
            Network = spec,
            InputScaling = inputScaling,
            TargetScaling = targetScaling,
            FeatureNames = ["x"],
            OutputNames = ["y"],
            Training = summary,
            Description = "Toy 1-D regression: y = sin(3x) + N(0, 0.1^2), trained on x in [-1, 1].",
        };
        return new ModelPackage(description, network);
    }

    private static double Normal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
