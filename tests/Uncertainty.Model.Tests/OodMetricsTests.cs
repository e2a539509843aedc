using Uncertainty.Model.Evaluation;

namespace Uncertainty.Model.Tests;

public class OodMetricsTests
{
    // Reference values from sklearn 1.2.1 (Debian python3-sklearn), computed once with
    //   python3 -c "from sklearn.metrics import roc_auc_score as A, average_precision_score as P;
    //     i=[...]; o=[...]; y=[0]*len(i)+[1]*len(o); s=i+o;
    //     print(repr(A(y,s)), repr(P(y,s)), repr(P([1-v for v in y],[-v for v in s])))"
    // with i and o the in- and out-of-distribution scores below. Tolerance 1e-12: the sums are short.
    private static readonly double[] SmallIn = [0.1, 0.4, 0.35, 0.8, 0.2, 0.4, 0.55, 0.05];
    private static readonly double[] SmallOut = [0.4, 0.9, 0.7, 0.35, 0.6, 0.4];

    // i=[(k*37%11)/10 for k in range(40)]; o=[(k*23%13)/10 for k in range(25)]: many ties across the classes.
    private static readonly double[] TiedIn = [.. Enumerable.Range(0, 40).Select(k => (k * 37 % 11) / 10.0)];
    private static readonly double[] TiedOut = [.. Enumerable.Range(0, 25).Select(k => (k * 23 % 13) / 10.0)];

    // Selective cases: correct = (k*7 % 5 != 0) for k in range(30) (6 errors), uncertainty ((k*13) % 31) / 31
    // (distinct) or ((k*13) % 17) / 17 (ties).
    private static readonly bool[] Correct = [.. Enumerable.Range(0, 30).Select(k => k * 7 % 5 != 0)];
    private static readonly double[] Distinct = [.. Enumerable.Range(0, 30).Select(k => (k * 13 % 31) / 31.0)];
    private static readonly double[] Tied = [.. Enumerable.Range(0, 30).Select(k => (k * 13 % 17) / 17.0)];

    [Fact]
    public void Perfect_separation_scores_one_and_reversed_scores_zero()
    {
        double[] low = [0.1, 0.2, 0.3], high = [0.7, 0.8];

        Assert.Equal(new OodReport(1, 1, 1), OodMetrics.Ood(low, high));
        Assert.Equal(0, OodMetrics.Auroc(high, low), 12);
    }

    [Fact]
    public void All_scores_tied_give_an_AUROC_of_one_half_and_the_base_rates_as_AUPR()
    {
        double[] inDistribution = [0.5, 0.5, 0.5], outOfDistribution = [0.5];

        var report = OodMetrics.Ood(inDistribution, outOfDistribution);

        // One threshold: every row is predicted positive, so the precision is the share of positives.
        Assert.Equal(new OodReport(0.5, 0.25, 0.75), report);
    }

    public static TheoryData<double[], double[], double, double, double> SklearnCases => new()
    {
        { SmallIn, SmallOut, 0.7395833333333334, 0.6788720538720537, 0.8060897435897436 },
        { TiedIn, TiedOut, 0.5985, 0.5450543113846988, 0.6673241399391351 },
    };

    [Theory]
    [MemberData(nameof(SklearnCases))]
    public void AUROC_and_AUPR_match_sklearn(double[] inDistribution, double[] outOfDistribution, double auroc, double auprOut, double auprIn)
    {
        var report = OodMetrics.Ood(inDistribution, outOfDistribution);

        Assert.Equal(auroc, report.Auroc, 12);
        Assert.Equal(auprOut, report.AuprOut, 12);
        Assert.Equal(auprIn, report.AuprIn, 12);
    }

    [Fact]
    public void OOD_metrics_need_both_classes()
    {
        Assert.Throws<ArgumentException>(() => OodMetrics.Auroc([0.1], []));
        Assert.Throws<ArgumentException>(() => OodMetrics.AuprOut([], [0.1]));
        Assert.Throws<ArgumentException>(() => OodMetrics.AuprIn([double.NaN], [0.1]));
    }

    [Fact]
    public void Accuracy_at_coverage_keeps_the_most_certain_ceil_of_coverage_n_rows()
    {
        bool[] correct = [false, true, true, false, true];
        double[] uncertainty = [0.9, 0.1, 0.2, 0.3, 0.4];

        // 0.6 x 5 = 3 rows: uncertainties 0.1, 0.2, 0.3 -> 2 of 3 right; 0.5 x 5 -> ceil 2.5 = 3 rows as well.
        Assert.Equal(2 / 3.0, OodMetrics.AccuracyAtCoverage(correct, uncertainty, 0.6), 12);
        Assert.Equal(2 / 3.0, OodMetrics.AccuracyAtCoverage(correct, uncertainty, 0.5), 12);
        Assert.Equal(1.0, OodMetrics.AccuracyAtCoverage(correct, uncertainty, 0.4), 12);
        Assert.Equal(0.6, OodMetrics.AccuracyAtCoverage(correct, uncertainty, 1.0), 12);
    }

    [Fact]
    public void Accuracy_at_coverage_breaks_ties_by_input_order()
    {
        bool[] correct = [false, true, true];
        double[] uncertainty = [0.5, 0.5, 0.1];

        // Rows 2 then 0 (the earlier of the tied pair), never row 1.
        Assert.Equal(0.5, OodMetrics.AccuracyAtCoverage(correct, uncertainty, 2 / 3.0), 12);
        Assert.Equal(1.0, OodMetrics.AccuracyAtCoverage([true, false, true], uncertainty, 2 / 3.0), 12);
    }

    [Fact]
    public void Accuracy_at_coverage_does_not_round_a_whole_row_count_up()
    {
        // 0.07 x 100 is 7.000000000000001 in doubles: 7 rows, not 8.
        var correct = Enumerable.Range(0, 100).Select(k => k < 7).ToArray();
        var uncertainty = Enumerable.Range(0, 100).Select(k => (double)k).ToArray();

        Assert.Equal(1.0, OodMetrics.AccuracyAtCoverage(correct, uncertainty, 0.07), 12);
    }

    [Fact]
    public void AURC_matches_torch_uncertainty_on_its_own_test_case()
    {
        // torch-uncertainty tests/metrics/classification/test_risk_coverage.py: confidences 0.9, 0.8, 0.7, 0.6, 0.8
        // (rows 2 and 3 wrong) gives (0 * 0.4 + 0.25 * 0.2 / 2 + 0.25 * 0.2 + 0.15 * 0.2 / 2) / 0.8.
        bool[] correct = [true, true, false, false, true];
        double[] uncertainty = [0.1, 0.2, 0.3, 0.4, 0.2];

        Assert.Equal(((0.25 * 0.2 / 2) + (0.25 * 0.2) + (0.15 * 0.2 / 2)) / 0.8, OodMetrics.Aurc(correct, uncertainty), 12);
    }

    [Fact]
    public void AURC_is_zero_without_errors_one_with_only_errors_and_NaN_for_one_row()
    {
        double[] uncertainty = [0.3, 0.1, 0.2];

        Assert.Equal(0, OodMetrics.Aurc([true, true, true], uncertainty), 12);
        Assert.Equal(1, OodMetrics.Aurc([false, false, false], uncertainty), 12);
        Assert.True(double.IsNaN(OodMetrics.Aurc([true], [0.5])));
    }

    [Fact]
    public void AURC_matches_torch_uncertainty_computed_in_python()
    {
        // torch-uncertainty's AURC.compute (src/torch_uncertainty/metrics/classification/risk_coverage.py, 2026-01),
        // run in float64 with torch 1.13 and numpy's trapezoid for torchmetrics' _auc_compute:
        //   e = err[conf.argsort(descending=True, stable=True)]; r = e.cumsum(-1) / torch.arange(1, n + 1, dtype=torch.float64);
        //   np.trapz(r, torch.arange(1, n + 1, dtype=torch.float64) / n) / (1 - 1 / n)
        // with conf = -uncertainty and err = 1 - correct; the oracle is the same with conf = -err. (torch-uncertainty
        // itself builds the coverage grid in float32, which moves these values by about 3e-10.)
        const double oracle = 0.02218293531016479;

        Assert.Equal(0.3391786733372788, OodMetrics.Aurc(Correct, Distinct), 12);
        Assert.Equal(0.3391786733372788 - oracle, OodMetrics.ExcessAurc(Correct, Distinct), 12);

        // With ties the order is a stable sort's; torch's default (unstable) argsort gives about 0.2444 here.
        Assert.Equal(0.2560584265549854, OodMetrics.Aurc(Correct, Tied), 12);
    }

    [Fact]
    public void Excess_AURC_is_zero_for_a_perfect_ranking()
    {
        bool[] correct = [true, false, true, true, false];
        double[] uncertainty = [0.1, 0.9, 0.2, 0.3, 0.8];

        Assert.Equal(0, OodMetrics.ExcessAurc(correct, uncertainty), 12);
        Assert.True(OodMetrics.Aurc(correct, uncertainty) > 0);
    }

    [Fact]
    public void Selective_report_bundles_the_accuracies_and_areas()
    {
        var report = OodMetrics.Selective(Correct, Distinct);

        Assert.Equal(OodMetrics.AccuracyAtCoverage(Correct, Distinct, 0.9), report.AccuracyAt90);
        Assert.Equal(OodMetrics.AccuracyAtCoverage(Correct, Distinct, 0.95), report.AccuracyAt95);
        Assert.Equal(OodMetrics.AccuracyAtCoverage(Correct, Distinct, 0.99), report.AccuracyAt99);
        Assert.Equal(0.3391786733372788, report.Aurc, 12);
        Assert.Equal(24 / 30.0, report.AccuracyAt99, 12);
    }
}
