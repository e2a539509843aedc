namespace Uncertainty.Model.Evaluation;

/// <summary>One bin of a reliability diagram: predictions whose confidence fell in [Lower, Upper).</summary>
/// <param name="Lower">Lowest confidence of the bin (inclusive).</param>
/// <param name="Upper">Upper confidence bound of the bin (exclusive; the last bin includes 1).</param>
/// <param name="Count">Predictions whose confidence fell in the bin.</param>
/// <param name="MeanConfidence">Mean confidence (largest class probability) of those predictions.</param>
/// <param name="Accuracy">Share of those predictions that were right.</param>
public sealed record ReliabilityBin(double Lower, double Upper, int Count, double MeanConfidence, double Accuracy);

/// <summary>The scoring rules, as plain functions of predictions and truths.</summary>
public static class Metrics
{
    public static double Rmse(IReadOnlyList<double> predicted, IReadOnlyList<double> actual) =>
        Math.Sqrt(predicted.Zip(actual, (p, a) => (p - a) * (p - a)).Average());

    public static double Mae(IReadOnlyList<double> predicted, IReadOnlyList<double> actual) =>
        predicted.Zip(actual, (p, a) => Math.Abs(p - a)).Average();

    /// <summary>
    /// Gal and Ghahramani's MC-dropout test log-likelihood, averaged over points: for each point the log of
    /// the mean over the T passes of N(y; y_t, 1/tau), i.e. logsumexp_t(-tau/2 (y - y_t)^2) - log T - log(2 pi)/2 + log(tau)/2,
    /// with predictions, targets and tau in the original target units.
    /// </summary>
    public static double McLogLikelihood(IReadOnlyList<IReadOnlyList<double>> samples, IReadOnlyList<double> actual, double tau)
    {
        double total = 0;
        for (int i = 0; i < actual.Count; i++)
        {
            var passes = samples[i];
            double max = double.NegativeInfinity;
            foreach (var y in passes)
            {
                max = Math.Max(max, -0.5 * tau * (actual[i] - y) * (actual[i] - y));
            }

            double sum = 0;
            foreach (var y in passes)
            {
                sum += Math.Exp((-0.5 * tau * (actual[i] - y) * (actual[i] - y)) - max);
            }

            total += max + Math.Log(sum) - Math.Log(passes.Count) - (0.5 * Math.Log(2 * Math.PI)) + (0.5 * Math.Log(tau));
        }

        return total / actual.Count;
    }

    /// <summary>Mean log density of each truth under N(mean, variance): the log-likelihood of a single Gaussian prediction.</summary>
    public static double GaussianLogLikelihood(IReadOnlyList<double> mean, IReadOnlyList<double> variance, IReadOnlyList<double> actual) =>
        actual.Select((y, i) => (-0.5 * Math.Log(2 * Math.PI * variance[i])) - ((y - mean[i]) * (y - mean[i]) / (2 * variance[i]))).Average();

    /// <summary>Share of truths inside [lower, upper].</summary>
    public static double Coverage(IReadOnlyList<double> lower, IReadOnlyList<double> upper, IReadOnlyList<double> actual) =>
        actual.Select((y, i) => y >= lower[i] && y <= upper[i] ? 1.0 : 0.0).Average();

    public static double Accuracy(IReadOnlyList<double[]> probabilities, IReadOnlyList<int> labels) =>
        labels.Select((label, i) => ArgMax(probabilities[i]) == label ? 1.0 : 0.0).Average();

    /// <summary>Mean negative log-probability of the true class (probabilities floored at 1e-12).</summary>
    public static double NegativeLogLikelihood(IReadOnlyList<double[]> probabilities, IReadOnlyList<int> labels) =>
        labels.Select((label, i) => -Math.Log(Math.Max(probabilities[i][label], 1e-12))).Average();

    /// <summary>Multi-class Brier score: mean over rows of the squared distance between the probabilities and the one-hot truth.</summary>
    public static double Brier(IReadOnlyList<double[]> probabilities, IReadOnlyList<int> labels) =>
        labels.Select((label, i) => probabilities[i].Select((p, k) => (p - (k == label ? 1 : 0)) * (p - (k == label ? 1 : 0))).Sum()).Average();

    /// <summary>
    /// Reliability bins over the top-class confidence (equal width on [0, 1]; confidence 1 goes in the last bin)
    /// and the expected calibration error: sum over bins of (count / N) |accuracy - mean confidence|.
    /// </summary>
    public static (double Ece, IReadOnlyList<ReliabilityBin> Bins) Calibration(IReadOnlyList<double[]> probabilities, IReadOnlyList<int> labels, int bins = 15)
    {
        var count = new int[bins];
        var confidence = new double[bins];
        var correct = new double[bins];
        for (int i = 0; i < labels.Count; i++)
        {
            int predicted = ArgMax(probabilities[i]);
            double top = probabilities[i][predicted];
            int bin = Math.Min((int)(top * bins), bins - 1);
            count[bin]++;
            confidence[bin] += top;
            correct[bin] += predicted == labels[i] ? 1 : 0;
        }

        var result = new List<ReliabilityBin>(bins);
        double ece = 0;
        for (int b = 0; b < bins; b++)
        {
            double meanConfidence = count[b] > 0 ? confidence[b] / count[b] : 0;
            double accuracy = count[b] > 0 ? correct[b] / count[b] : 0;
            ece += (double)count[b] / labels.Count * Math.Abs(accuracy - meanConfidence);
            result.Add(new ReliabilityBin((double)b / bins, (double)(b + 1) / bins, count[b], meanConfidence, accuracy));
        }

        return (ece, result);
    }

    private static int ArgMax(double[] values)
    {
        int best = 0;
        for (int k = 1; k < values.Length; k++)
        {
            best = values[k] > values[best] ? k : best;
        }

        return best;
    }
}
