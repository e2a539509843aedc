using Uncertainty.Model.Data;
using Uncertainty.Model.Evaluation;
using Uncertainty.Model.Inference;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public class TuningTests
{
    // y = x0 - x2 + N(0, 0.5^2) with x ~ U(-1, 1): the signal's variance is 2/3, so in standardised units the noise
    // variance is 0.25 / (2/3 + 0.25) ~ 0.27, a precision of about 3.7. A grid of tau 0.1 and 4 must choose 4.
    private static Dataset Data(int rows)
    {
        var random = new Random(4);
        var x = new float[rows * 3];
        var y = new float[rows];
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < 3; j++)
            {
                x[(r * 3) + j] = (float)((random.NextDouble() * 2) - 1);
            }

            double noise = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            y[r] = (float)(x[r * 3] - x[(r * 3) + 2] + (0.5 * noise));
        }

        return new Dataset("synthetic", ["a", "b", "c"], x, "y", y);
    }

    [Fact]
    public void Tuning_scores_every_point_as_training_it_alone_would_and_trains_the_best_on_every_row()
    {
        var data = Data(200);
        var spec = new NetworkSpec { Inputs = 3, Hidden = [20] };
        var options = new TrainingOptions { Epochs = 30, BatchSize = 32, LearningRate = 1e-2, Seed = 9 };
        var tune = new TuneOptions { Dropout = [0.01, 0.2], Tau = [0.1, 4], Samples = 300 };

        using var package = TrainingPipeline.FitTuned(data, spec, options, tune);

        var report = package.Description.Tuning!;
        Assert.Equal([(0.01, 0.1), (0.01, 4.0), (0.2, 0.1), (0.2, 4.0)], report.Grid.Select(p => (p.Dropout, p.Tau)));
        Assert.Equal(report.Grid.MaxBy(p => p.ValidationLogLikelihood)!.Dropout, report.Dropout);
        Assert.Equal(4, report.Tau);
        Assert.Equal(40, report.ValidationRows);
        Assert.Equal(160, report.FitRows);

        // The chosen point, retrained on all 200 rows: its rates and tau are the network's.
        Assert.Equal(report.Dropout, package.Description.Network.InputDropout);
        Assert.Equal([report.Dropout], package.Description.Network.HiddenDropout);
        Assert.Equal(report.Tau, package.Description.Network.Head.Tau);
        Assert.Equal(200, package.Description.Training!.Rows);

        // Each point's score is the one its own network (trained alone on the same 160 rows) gets: the stacked grid gives
        // the same weights within float rounding (GridTrainerTests), and the same MC masks score it, so the log-likelihoods
        // agree far inside the gaps between points (which are above 0.05 here).
        var (fit, validation) = TrainingPipeline.HoldOut(data, tune.ValidationFraction, 9);
        foreach (var point in report.Grid.Where(p => p.Dropout == 0.2))
        {
            using var alone = TrainingPipeline.Fit(fit, TuneOptions.Point(spec, point.Dropout, point.Tau), options);
            using var predictor = new McPredictor(alone.Network, CPU, outputScale: alone.Description.OutputScale);
            var score = Evaluator.Evaluate(predictor, alone.Description, validation, tune.Samples, options.Seed).McDropout!.LogLikelihood;
            Assert.Equal(score, point.ValidationLogLikelihood, 3);
        }

        Assert.True(report.Grid.Max(p => p.ValidationLogLikelihood) - report.Grid.Min(p => p.ValidationLogLikelihood) > 0.05);
    }

    [Fact]
    public void Tune_options_out_of_range_and_networks_the_grid_cannot_stack_are_refused()
    {
        var data = Data(40);
        var options = new TrainingOptions { Epochs = 1 };
        var error = Assert.Throws<ArgumentException>(() => TrainingPipeline.FitTuned(data, new NetworkSpec { Inputs = 3 }, options, new TuneOptions { Dropout = [1.5] }));
        Assert.Contains("'dropout'", error.Message);

        error = Assert.Throws<ArgumentException>(() => TrainingPipeline.FitTuned(data, new NetworkSpec { Inputs = 3, Normalization = Normalization.BatchNorm }, options, new TuneOptions()));
        Assert.Contains("Tuning:", error.Message);

        // One row cannot be both trained and scored on.
        error = Assert.Throws<ArgumentException>(() => TrainingPipeline.FitTuned(data.Subset([0]), new NetworkSpec { Inputs = 3 }, options, new TuneOptions()));
        Assert.Contains("at least 2", error.Message);
    }
}
