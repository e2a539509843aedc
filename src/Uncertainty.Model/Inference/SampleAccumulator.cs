using Uncertainty.Model.Networks;

namespace Uncertainty.Model.Inference;

/// <summary>
/// Streams one request's passes into running statistics (Welford, in double, in sample order), so the
/// result is the same however the passes were chunked or merged, and T = 10,000 needs no sample storage.
/// </summary>
internal sealed class SampleAccumulator
{
    private readonly HeadSpec head;
    private readonly int rows;
    private readonly int width;
    private readonly double[] mean;
    private readonly double[] m2;
    private readonly double[] noiseSum;
    private readonly double[] entropySum;
    private readonly int[] labelCounts;
    private readonly List<float[]>[]? samples;
    private readonly List<double>[]? passMeans;
    private readonly List<double>[]? passNoise;

    /// <param name="keepMixture">Keep every pass's means (and heteroscedastic noise) per row, exactly, for <see cref="RegressionPrediction.Mixture"/>.</param>
    public SampleAccumulator(HeadSpec head, int rows, bool keepSamples, bool keepMixture = false)
    {
        this.head = head;
        this.rows = rows;
        width = head.Outputs;
        mean = new double[rows * width];
        m2 = new double[rows * width];
        noiseSum = new double[rows * width];
        entropySum = new double[rows];
        labelCounts = new int[head.Kind == HeadKind.Classification ? rows * width : 0];
        samples = keepSamples ? [.. Enumerable.Range(0, rows).Select(_ => new List<float[]>())] : null;
        if (keepMixture)
        {
            if (head.Kind == HeadKind.Classification)
            {
                throw new ArgumentException("A predictive mixture (quantile intervals) needs a regression head.", nameof(keepMixture));
            }

            passMeans = [.. Enumerable.Range(0, rows).Select(_ => new List<double>())];
            passNoise = head.Kind == HeadKind.HeteroscedasticRegression ? [.. Enumerable.Range(0, rows).Select(_ => new List<double>())] : null;
        }
    }

    public int Count { get; private set; }

    /// <summary>Adds one pass: <paramref name="pass"/> holds the network's raw outputs for every row, [rows, head width].</summary>
    public void Add(ReadOnlySpan<float> pass)
    {
        Count++;
        int headWidth = head.Kind == HeadKind.HeteroscedasticRegression ? 2 * width : width;
        Span<double> values = stackalloc double[width];
        for (int r = 0; r < rows; r++)
        {
            var output = pass.Slice(r * headWidth, headWidth);
            switch (head.Kind)
            {
                case HeadKind.Classification:
                    Softmax(output, values);
                    entropySum[r] += Entropy(values);
                    labelCounts[(r * width) + ArgMax(values)]++;
                    break;
                case HeadKind.HeteroscedasticRegression:
                    for (int o = 0; o < width; o++)
                    {
                        values[o] = output[o];
                        noiseSum[(r * width) + o] += Math.Exp(output[width + o]);
                        passNoise?[r].Add(Math.Exp(output[width + o]));
                    }

                    break;
                default:
                    for (int o = 0; o < width; o++)
                    {
                        values[o] = output[o];
                    }

                    break;
            }

            for (int o = 0; o < width; o++)
            {
                int at = (r * width) + o;
                double delta = values[o] - mean[at];
                mean[at] += delta / Count;
                m2[at] += delta * (values[o] - mean[at]);
            }

            if (samples is not null)
            {
                // One array per pass and row, nothing else: evaluation keeps 10^4 passes of every row.
                var kept = new float[width];
                for (int o = 0; o < width; o++)
                {
                    kept[o] = (float)values[o];
                }

                samples[r].Add(kept);
            }

            passMeans?[r].AddRange(values[..width]);
        }
    }

    /// <summary>
    /// Merges <paramref name="count"/> passes summarised elsewhere: per row, [mean | sum of squared deviations |
    /// noise sum (heteroscedastic)] for each output, row-major. Chan, Golub and LeVeque's pairwise update, so
    /// the result equals adding the passes one by one up to rounding.
    /// </summary>
    public void Merge(int count, ReadOnlySpan<double> stats)
    {
        if (passMeans is not null)
        {
            throw new InvalidOperationException("Summarised passes cannot feed a predictive mixture, which needs every pass.");
        }

        bool heteroscedastic = head.Kind == HeadKind.HeteroscedasticRegression;
        int stride = (heteroscedastic ? 3 : 2) * width;
        double before = Count, total = Count + count;
        for (int r = 0; r < rows; r++)
        {
            for (int o = 0; o < width; o++)
            {
                int at = (r * width) + o;
                double blockMean = stats[(r * stride) + o];
                double delta = blockMean - mean[at];
                mean[at] += delta * count / total;
                m2[at] += stats[(r * stride) + width + o] + (delta * delta * before * count / total);
                if (heteroscedastic)
                {
                    noiseSum[at] += stats[(r * stride) + (2 * width) + o];
                }
            }
        }

        Count += count;
    }

    /// <summary>
    /// The largest standard error of a mean output (scaled per output) over all rows: the quantity adaptive T compares with
    /// its tolerance, the maximum of the rows' <see cref="RowPrediction.StandardError"/>; infinite below two passes.
    /// </summary>
    public double MaxStandardError(IReadOnlyList<double> outputScale)
    {
        if (Count < 2)
        {
            return double.PositiveInfinity;
        }

        double worst = 0;
        for (int i = 0; i < mean.Length; i++)
        {
            worst = Math.Max(worst, StandardError(i) * outputScale[i % width]);
        }

        return worst;
    }

    /// <summary>
    /// The Monte Carlo standard error of mean <paramref name="at"/> (network units): sqrt(s² / T), s² = M2 / (T − 1) the
    /// unbiased sample variance over the passes. Needs T ≥ 2.
    /// </summary>
    private double StandardError(int at) => Math.Sqrt(m2[at] / (Count - 1) / Count);

    /// <summary>The standard errors of a row's means, or null below two passes (one pass says nothing of the spread).</summary>
    private double[]? StandardErrors(int row) => Count < 2 ? null : [.. Enumerable.Range(row * width, width).Select(StandardError)];

    /// <summary>A row's predictive mixture, when kept.</summary>
    private PredictiveMixture? Mixture(int row) => passMeans is null
        ? null
        : new PredictiveMixture(width, [.. passMeans[row]], passNoise is null ? [.. Enumerable.Repeat(1 / head.Tau, width)] : [.. passNoise[row]]);

    public IReadOnlyList<RowPrediction> Summaries()
    {
        var result = new RowPrediction[rows];
        for (int r = 0; r < rows; r++)
        {
            var rowMean = mean.AsSpan(r * width, width).ToArray();
            var variance = m2.AsSpan(r * width, width).ToArray().Select(v => Count > 1 ? v / (Count - 1) : 0).ToArray();
            var rowSamples = samples?[r].ToArray();
            result[r] = head.Kind switch
            {
                HeadKind.Classification => ClassSummary(r, rowMean, variance) with { Samples = rowSamples, StandardError = StandardErrors(r) },
                HeadKind.HeteroscedasticRegression => new RegressionPrediction(rowMean, variance, [.. noiseSum.AsSpan(r * width, width).ToArray().Select(s => s / Count)]) { Samples = rowSamples, StandardError = StandardErrors(r), Mixture = Mixture(r) },
                _ => new RegressionPrediction(rowMean, variance, [.. Enumerable.Repeat(1 / head.Tau, width)]) { Samples = rowSamples, StandardError = StandardErrors(r), Mixture = Mixture(r) },
            };
        }

        return result;
    }

    private ClassPrediction ClassSummary(int row, double[] probabilities, double[] variance)
    {
        var counts = labelCounts.AsSpan(row * width, width);
        int modal = 0;
        for (int k = 1; k < width; k++)
        {
            modal = counts[k] > counts[modal] ? k : modal;
        }

        double entropy = Entropy(probabilities);
        double expectedEntropy = entropySum[row] / Count;
        return new ClassPrediction(
            probabilities,
            [.. variance.Select(Math.Sqrt)],
            ArgMax(probabilities),
            entropy,
            expectedEntropy,
            entropy - expectedEntropy,
            1 - ((double)counts[modal] / Count));
    }

    private static void Softmax(ReadOnlySpan<float> logits, Span<double> probabilities)
    {
        double max = double.NegativeInfinity;
        foreach (var logit in logits)
        {
            max = Math.Max(max, logit);
        }

        double sum = 0;
        for (int k = 0; k < logits.Length; k++)
        {
            probabilities[k] = Math.Exp(logits[k] - max);
            sum += probabilities[k];
        }

        for (int k = 0; k < logits.Length; k++)
        {
            probabilities[k] /= sum;
        }
    }

    /// <summary>Shannon entropy in nats; 0 log 0 = 0.</summary>
    internal static double Entropy(ReadOnlySpan<double> probabilities)
    {
        double h = 0;
        foreach (var p in probabilities)
        {
            h -= p > 0 ? p * Math.Log(p) : 0;
        }

        return h;
    }

    private static int ArgMax(ReadOnlySpan<double> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            best = values[i] > values[best] ? i : best;
        }

        return best;
    }
}
