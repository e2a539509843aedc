using Uncertainty.Model.Evaluation;

namespace Uncertainty.Model.Tests;

public class MetricsTests
{
    [Fact]
    public void MC_log_likelihood_matches_a_hand_computed_case()
    {
        // Two passes predict 1 and 2 for y = 1.5 with tau = 2 (variance 1/2): both densities are
        // N(0.5; 0, 0.5) = exp(-0.25) / sqrt(pi), so the log of their mean is -0.25 - ln(pi)/2.
        var ll = Metrics.McLogLikelihood([[1.0, 2.0]], [1.5], tau: 2);

        Assert.Equal(-0.25 - (0.5 * Math.Log(Math.PI)), ll, 12);
    }

    [Fact]
    public void MC_log_likelihood_is_log_mean_exp_of_gaussian_densities()
    {
        double[] passes = [0.3, -1.2, 2.5, 0.9];
        const double y = 0.4, tau = 0.7;

        var ll = Metrics.McLogLikelihood([passes], [y], tau);

        var densities = passes.Select(m => Math.Sqrt(tau / (2 * Math.PI)) * Math.Exp(-0.5 * tau * (y - m) * (y - m)));
        Assert.Equal(Math.Log(densities.Average()), ll, 12);
    }

    [Fact]
    public void ECE_matches_a_hand_computed_case()
    {
        double[][] probabilities = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]];
        int[] labels = [0, 1, 1, 0];

        var (ece, bins) = Metrics.Calibration(probabilities, labels);

        // One prediction per bin: |1 - 0.9|, |0 - 0.8|, |1 - 0.7|, |1 - 0.6|, each weighted 1/4.
        Assert.Equal((0.1 + 0.8 + 0.3 + 0.4) / 4, ece, 12);
        Assert.Equal(15, bins.Count);
        Assert.Equal(4, bins.Sum(b => b.Count));
        var top = bins.Single(b => b.Lower <= 0.9 && 0.9 < b.Upper);
        Assert.Equal((1, 0.9, 1.0), (top.Count, top.MeanConfidence, top.Accuracy));
    }

    [Fact]
    public void Classification_scores_match_hand_computed_values()
    {
        double[][] probabilities = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]];
        int[] labels = [0, 1];

        Assert.Equal(0.5, Metrics.Accuracy(probabilities, labels), 12);
        Assert.Equal(-(Math.Log(0.7) + Math.Log(0.3)) / 2, Metrics.NegativeLogLikelihood(probabilities, labels), 12);
        Assert.Equal(((0.09 + 0.04 + 0.01) + (0.01 + 0.49 + 0.36)) / 2, Metrics.Brier(probabilities, labels), 12);
    }

    [Fact]
    public void Regression_scores_match_hand_computed_values()
    {
        double[] predicted = [1, 2, 3];
        double[] actual = [1, 4, 0];

        Assert.Equal(Math.Sqrt((0 + 4 + 9) / 3.0), Metrics.Rmse(predicted, actual), 12);
        Assert.Equal(5 / 3.0, Metrics.Mae(predicted, actual), 12);
        Assert.Equal(2 / 3.0, Metrics.Coverage([0, 1, 2], [2, 5, 2.5], actual), 12);
        Assert.Equal(-0.5 * Math.Log(2 * Math.PI), Metrics.GaussianLogLikelihood([1.0], [1.0], [1.0]), 12);
    }

    [Fact]
    public void Mean_with_error_uses_the_sample_standard_deviation_over_root_n()
    {
        var summary = MeanWithError.Of([1, 2, 3, 4]);

        Assert.Equal(2.5, summary.Mean, 12);
        Assert.Equal(Math.Sqrt(5.0 / 3 / 4), summary.StandardError, 12);
    }
}
