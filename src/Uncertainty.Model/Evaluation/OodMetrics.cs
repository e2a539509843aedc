namespace Uncertainty.Model.Evaluation;

/// <summary>How well one score separates out-of-distribution rows (the positives) from in-distribution rows.</summary>
/// <param name="Auroc">Area under the ROC curve of the score separating OOD rows from in-distribution rows (0.5 = chance, 1 = perfect).</param>
/// <param name="AuprOut">Area under the precision-recall curve with the OOD rows as positives.</param>
/// <param name="AuprIn">Area under the precision-recall curve with the in-distribution rows as positives (scores negated).</param>
public sealed record OodReport(double Auroc, double AuprOut, double AuprIn);

/// <summary>
/// Selective prediction from one uncertainty score: accuracy on the 90, 95 and 99 % most certain rows, and the
/// area under the risk-coverage curve with its excess over an oracle that ranks every error last.
/// </summary>
/// <param name="AccuracyAt90">Accuracy on the 90 % of rows the score is most certain about.</param>
/// <param name="AccuracyAt95">Accuracy on the 95 % of rows the score is most certain about.</param>
/// <param name="AccuracyAt99">Accuracy on the 99 % of rows the score is most certain about.</param>
/// <param name="Aurc">Area under the risk-coverage curve (lower is better).</param>
/// <param name="ExcessAurc">AURC minus that of an oracle that ranks every error last (0 = as good as the oracle).</param>
public sealed record SelectiveReport(double AccuracyAt90, double AccuracyAt95, double AccuracyAt99, double Aurc, double ExcessAurc);

/// <summary>
/// Out-of-distribution detection and selective prediction, as plain functions of scores, in O(n log n).
/// OOD scores: higher means "more likely out of distribution". Uncertainty scores: higher means "less certain".
/// </summary>
public static class OodMetrics
{
    /// <summary>
    /// Area under the ROC curve with OOD as the positive class: the probability that a random OOD row scores
    /// above a random in-distribution row, ties counting one half (Mann-Whitney U / (n_in n_out)); equals
    /// sklearn's roc_auc_score.
    /// </summary>
    public static double Auroc(IReadOnlyList<double> inDistributionScores, IReadOnlyList<double> outOfDistributionScores)
    {
        var (scores, positive) = Pooled(inDistributionScores, outOfDistributionScores, negate: false);
        double positiveRanks = 0;
        for (int start = 0; start < scores.Length;)
        {
            int end = GroupEnd(scores, start);
            double midRank = ((start + 1) + end) / 2.0;
            for (int i = start; i < end; i++)
            {
                positiveRanks += positive[i] ? midRank : 0;
            }

            start = end;
        }

        double positives = outOfDistributionScores.Count, negatives = inDistributionScores.Count;
        return (positiveRanks - (positives * (positives + 1) / 2)) / (positives * negatives);
    }

    /// <summary>Average precision with OOD as the positive class (sklearn's average_precision_score of the scores).</summary>
    public static double AuprOut(IReadOnlyList<double> inDistributionScores, IReadOnlyList<double> outOfDistributionScores) =>
        AveragePrecision(Pooled(inDistributionScores, outOfDistributionScores, negate: false));

    /// <summary>Average precision with in-distribution as the positive class (sklearn's average_precision_score of the negated scores).</summary>
    public static double AuprIn(IReadOnlyList<double> inDistributionScores, IReadOnlyList<double> outOfDistributionScores) =>
        AveragePrecision(Pooled(outOfDistributionScores, inDistributionScores, negate: true));

    public static OodReport Ood(IReadOnlyList<double> inDistributionScores, IReadOnlyList<double> outOfDistributionScores) =>
        new(Auroc(inDistributionScores, outOfDistributionScores),
            AuprOut(inDistributionScores, outOfDistributionScores),
            AuprIn(inDistributionScores, outOfDistributionScores));

    /// <summary>
    /// Accuracy on the ceil(coverage n) rows of lowest uncertainty (a product within 1e-9 of an integer counts as
    /// that integer, so 0.07 x 100 keeps 7 rows). Rows of equal uncertainty keep their input order (a stable sort):
    /// at a tie on the cut, the earlier rows are kept.
    /// </summary>
    public static double AccuracyAtCoverage(IReadOnlyList<bool> correct, IReadOnlyList<double> uncertainty, double coverage)
    {
        if (coverage is not (> 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(coverage), coverage, "Coverage must be in (0, 1].");
        }

        var order = CertainFirst(correct, uncertainty);
        int kept = Math.Max(1, (int)Math.Ceiling((coverage * order.Length) - 1e-9));
        int right = 0;
        for (int i = 0; i < kept; i++)
        {
            right += correct[order[i]] ? 1 : 0;
        }

        return (double)right / kept;
    }

    /// <summary>
    /// Area under the risk-coverage curve (Geifman and El-Yaniv) as torch-uncertainty's AURC computes it: with rows
    /// sorted most certain first (stable, as <see cref="AccuracyAtCoverage"/>), r_i is the error rate of the first i
    /// rows; the trapezoid area of r_i over coverages i/n, i = 1..n, divided by 1 - 1/n (the support starts at 1/n),
    /// i.e. (sum r_i - (r_1 + r_n) / 2) / (n - 1). NaN for fewer than two rows, as there.
    /// </summary>
    public static double Aurc(IReadOnlyList<bool> correct, IReadOnlyList<double> uncertainty) =>
        RiskCoverageArea(correct, CertainFirst(correct, uncertainty));

    /// <summary>
    /// Excess AURC (E-AURC): <see cref="Aurc"/> less the AURC of an oracle that ranks every correct row before every
    /// error, so 0 for a perfect ranking whatever the accuracy.
    /// </summary>
    public static double ExcessAurc(IReadOnlyList<bool> correct, IReadOnlyList<double> uncertainty)
    {
        var oracle = CertainFirst(correct, [.. correct.Select(c => c ? 0.0 : 1.0)]);
        return Aurc(correct, uncertainty) - RiskCoverageArea(correct, oracle);
    }

    public static SelectiveReport Selective(IReadOnlyList<bool> correct, IReadOnlyList<double> uncertainty) =>
        new(AccuracyAtCoverage(correct, uncertainty, 0.90),
            AccuracyAtCoverage(correct, uncertainty, 0.95),
            AccuracyAtCoverage(correct, uncertainty, 0.99),
            Aurc(correct, uncertainty),
            ExcessAurc(correct, uncertainty));

    /// <summary>
    /// sklearn's average precision: sum over distinct thresholds, highest first, of (R_k - R_(k-1)) P_k, where rows
    /// scoring at or above the threshold are predicted positive (step-wise, no interpolation).
    /// </summary>
    private static double AveragePrecision((double[] Scores, bool[] Positive) pooled)
    {
        var (scores, positive) = pooled;
        double positives = positive.Count(p => p);
        double area = 0;
        int truePositives = 0, predicted = 0;
        for (int end = scores.Length; end > 0;)
        {
            int start = GroupStart(scores, end);
            int before = truePositives;
            for (int i = start; i < end; i++)
            {
                truePositives += positive[i] ? 1 : 0;
            }

            predicted += end - start;
            area += (truePositives - before) / positives * truePositives / predicted;
            end = start;
        }

        return area;
    }

    /// <summary>Both score sets in one array sorted ascending (optionally negated), with a flag for the positives.</summary>
    private static (double[] Scores, bool[] Positive) Pooled(IReadOnlyList<double> negatives, IReadOnlyList<double> positives, bool negate)
    {
        if (negatives.Count == 0 || positives.Count == 0)
        {
            throw new ArgumentException("Both the in-distribution and the out-of-distribution scores need at least one row.");
        }

        var scores = new double[negatives.Count + positives.Count];
        var positive = new bool[scores.Length];
        for (int i = 0; i < scores.Length; i++)
        {
            bool isPositive = i >= negatives.Count;
            double score = isPositive ? positives[i - negatives.Count] : negatives[i];
            if (double.IsNaN(score))
            {
                throw new ArgumentException("Scores must not be NaN.", isPositive ? nameof(positives) : nameof(negatives));
            }

            scores[i] = negate ? -score : score;
            positive[i] = isPositive;
        }

        // Rows of one score are always taken as a group, so the order within a group (unstable sort) does not matter.
        Array.Sort(scores, positive);
        return (scores, positive);
    }

    /// <summary>End (exclusive) of the run of equal scores that starts at start.</summary>
    private static int GroupEnd(double[] sorted, int start)
    {
        int end = start + 1;
        while (end < sorted.Length && sorted[end] == sorted[start])
        {
            end++;
        }

        return end;
    }

    /// <summary>Start of the run of equal scores that ends (exclusive) at end.</summary>
    private static int GroupStart(double[] sorted, int end)
    {
        int start = end - 1;
        while (start > 0 && sorted[start - 1] == sorted[end - 1])
        {
            start--;
        }

        return start;
    }

    /// <summary>Row indices by increasing uncertainty; equal uncertainties keep their input order.</summary>
    private static int[] CertainFirst(IReadOnlyList<bool> correct, IReadOnlyList<double> uncertainty)
    {
        if (correct.Count != uncertainty.Count)
        {
            throw new ArgumentException($"Expected one uncertainty per row ({correct.Count}), got {uncertainty.Count}.", nameof(uncertainty));
        }

        if (correct.Count == 0)
        {
            throw new ArgumentException("Selective metrics need at least one row.", nameof(correct));
        }

        if (uncertainty.Any(double.IsNaN))
        {
            throw new ArgumentException("Uncertainties must not be NaN.", nameof(uncertainty));
        }

        var order = Enumerable.Range(0, uncertainty.Count).ToArray();
        Array.Sort(order, (a, b) => uncertainty[a] != uncertainty[b] ? uncertainty[a].CompareTo(uncertainty[b]) : a.CompareTo(b));
        return order;
    }

    private static double RiskCoverageArea(IReadOnlyList<bool> correct, int[] order)
    {
        int n = order.Length;
        if (n < 2)
        {
            return double.NaN;
        }

        double sum = 0, first = 0, risk = 0;
        int errors = 0;
        for (int i = 0; i < n; i++)
        {
            errors += correct[order[i]] ? 0 : 1;
            risk = (double)errors / (i + 1);
            first = i == 0 ? risk : first;
            sum += risk;
        }

        return (sum - ((first + risk) / 2)) / (n - 1);
    }
}
