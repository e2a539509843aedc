using System.Text.Json.Serialization;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Model.Evaluation;

/// <summary>Which rows of a dataset an evaluation scores.</summary>
[JsonConverter(typeof(Networks.CamelCaseEnumConverter<EvaluationRows>))]
public enum EvaluationRows
{
    /// <summary>Only the rows held out at training (the default on the model's own training data).</summary>
    [JsonStringEnumMemberName("heldOut")] HeldOut,

    /// <summary>Every row, training rows included.</summary>
    [JsonStringEnumMemberName("all")] All,
}

/// <summary>The rows an evaluation scored, and why those.</summary>
/// <param name="Rows">heldOut: the rows held out at training; all: every row of the data.</param>
/// <param name="Count">Rows scored.</param>
/// <param name="Of">Rows in the data.</param>
/// <param name="IncludesTrainingRows">Some scored rows were trained on: the scores are not an honest estimate of performance on new data.</param>
/// <param name="Reason">Why these rows, in words.</param>
/// <param name="Indices">The scored rows' indices in the data, as ranges ("0-3,7,9-12").</param>
public sealed record ScoredRows(EvaluationRows Rows, int Count, int Of, bool IncludesTrainingRows, string Reason, string Indices)
{
    /// <summary>The scored rows' indices, ascending.</summary>
    public int[] IndexList() => RowRanges.Parse(Indices, Of);

    /// <summary>
    /// The rows of a dataset of <paramref name="rows"/> rows to score for a model whose training data is <paramref name="record"/>
    /// (null: none recorded), given the data's identity (<paramref name="dataset"/> name or CSV <paramref name="sha256"/>;
    /// both null for inline rows) and what was asked (<paramref name="asked"/>; null: the default). On the model's own training
    /// data the default is the held-out rows; on other data, every row. <see cref="ArgumentException"/> when held-out rows are
    /// asked for and there are none to give.
    /// </summary>
    public static ScoredRows Select(TrainingData? record, string? dataset, string? sha256, int rows, EvaluationRows? asked)
    {
        var all = RowRanges.Format(Enumerable.Range(0, rows));
        if (record is null)
        {
            return asked == EvaluationRows.HeldOut
                ? throw new ArgumentException("The model has no held-out split recorded (trained before splits were recorded, or imported); ask for all rows.")
                : new ScoredRows(EvaluationRows.All, rows, rows, false, $"no held-out split recorded: all {rows} rows", all);
        }

        // A bundled dataset and an upload of its very file are the same data, whichever of the two the model was trained on.
        bool own = record.Identifies(dataset, sha256)
            || (sha256 is not null && string.Equals(Data.BundledDatasets.Sha256Of(record.Dataset), sha256, StringComparison.OrdinalIgnoreCase))
            || (record.Sha256 is not null && string.Equals(Data.BundledDatasets.Sha256Of(dataset), record.Sha256, StringComparison.OrdinalIgnoreCase));
        if (!own)
        {
            return asked == EvaluationRows.HeldOut
                ? throw new ArgumentException($"Held-out rows exist only in the model's training data, {record.Describe()}; this is other data, so only all its rows can be scored.")
                : new ScoredRows(EvaluationRows.All, rows, rows, false, $"not the model's training data ({record.Describe()}): all {rows} rows", all);
        }

        if (record.Rows != rows)
        {
            return asked == EvaluationRows.All
                ? new ScoredRows(EvaluationRows.All, rows, rows, true, $"all {rows} rows, as asked, of {record.Describe()}, which had {record.Rows} rows when the model was trained on some of them", all)
                : throw new ArgumentException($"{record.Describe()} has {rows} rows here but had {record.Rows} when the model was trained: not the same data, so its held-out rows cannot be found (ask for all rows).");
        }

        var heldOut = record.HeldOutRows();
        if (asked == EvaluationRows.All || (asked is null && heldOut.Length == 0))
        {
            var why = heldOut.Length == 0
                ? $"the model was trained on all {rows} rows of {record.Describe()} (none held out): these are training rows"
                : $"all {rows} rows, as asked: {rows - heldOut.Length} of them were trained on";
            return new ScoredRows(EvaluationRows.All, rows, rows, true, why, all);
        }

        return heldOut.Length == 0
            ? throw new ArgumentException($"The model was trained on all {rows} rows of {record.Describe()}: none were held out.")
            : new ScoredRows(EvaluationRows.HeldOut, heldOut.Length, rows, false, $"held-out split recorded at training: {heldOut.Length} of {rows} rows", record.HeldOut);
    }

    /// <summary>The first <paramref name="most"/> of these rows (all when there are fewer), said so.</summary>
    public ScoredRows Take(int? most) => most is { } m && m < Count
        ? this with { Count = m, Indices = RowRanges.Format(IndexList().Take(m)), Reason = $"{Reason}; the first {m} of them (maxRows)" }
        : this;
}
