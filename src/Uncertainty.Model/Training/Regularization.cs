using MathNet.Numerics.Distributions;

namespace Uncertainty.Model.Training;

/// <summary>The data-side regularisers, as plain functions of arrays so their semantics are testable on their own.</summary>
public static class Regularization
{
    /// <summary>
    /// Gal and Ghahramani's weight decay from a prior length-scale l: the coefficient of |w|^2 in the loss is
    /// l^2 (1 - p) / (2 N tau). Returned as the gradient-convention lambda (grad += lambda w), i.e. twice that.
    /// </summary>
    public static double WeightDecayFromPrior(double lengthScale, double dropout, int rows, double tau) =>
        2 * (lengthScale * lengthScale * (1 - dropout) / (2.0 * rows * tau));

    /// <summary>Soft targets [rows, classes]: one-hot labels smoothed to (1 - a) y + a / K.</summary>
    public static float[] SmoothedTargets(ReadOnlySpan<int> labels, int classes, double smoothing)
    {
        var targets = new float[labels.Length * classes];
        var off = (float)(smoothing / classes);
        var on = (float)(1 - smoothing + (smoothing / classes));
        for (int r = 0; r < labels.Length; r++)
        {
            targets.AsSpan(r * classes, classes).Fill(off);
            targets[(r * classes) + labels[r]] = on;
        }

        return targets;
    }

    /// <summary>
    /// Mixup (Zhang et al. 2018) in place: rows become lambda x_i + (1 - lambda) x_perm(i) for inputs and targets
    /// alike, lambda ~ Beta(alpha, alpha), one lambda and one permutation per batch. Returns lambda.
    /// </summary>
    public static double Mixup(Span<float> inputs, int inputWidth, Span<float> targets, int targetWidth, double alpha, Random random)
    {
        int rows = inputs.Length / inputWidth;
        var lambda = Beta.Sample(random, alpha, alpha);
        var partner = Enumerable.Range(0, rows).ToArray();
        random.Shuffle(partner);
        var originalInputs = inputs.ToArray();
        var originalTargets = targets.ToArray();
        for (int r = 0; r < rows; r++)
        {
            Mix(inputs.Slice(r * inputWidth, inputWidth), originalInputs.AsSpan(partner[r] * inputWidth, inputWidth), lambda);
            Mix(targets.Slice(r * targetWidth, targetWidth), originalTargets.AsSpan(partner[r] * targetWidth, targetWidth), lambda);
        }

        return lambda;
    }

    /// <summary>Adds N(0, std^2) noise to every value.</summary>
    public static void AddGaussianNoise(Span<float> values, double std, Random random)
    {
        for (int i = 0; i < values.Length; i++)
        {
            values[i] += (float)(std * Normal.Sample(random, 0, 1));
        }
    }

    private static void Mix(Span<float> row, ReadOnlySpan<float> partner, double lambda)
    {
        for (int i = 0; i < row.Length; i++)
        {
            row[i] = (float)((lambda * row[i]) + ((1 - lambda) * partner[i]));
        }
    }
}
