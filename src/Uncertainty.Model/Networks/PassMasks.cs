using TorchSharp;
using Uncertainty.Model.Inference;
using static TorchSharp.torch;

namespace Uncertainty.Model.Networks;

/// <summary>
/// What the sequence layers of one forward pass read besides their input: which steps are valid (not padding), and the
/// dropout masks of the pass. Without a plan the pass is deterministic: each dropout site is the identity (inverted
/// dropout) or a scaling by (1 - p) (standard dropout).
/// </summary>
public sealed class PassMasks
{
    private readonly MaskPlan? plan;
    private readonly DropoutMasks? source;
    private readonly DropoutKind kind;

    internal PassMasks(MaskPlan? plan, DropoutMasks? source, DropoutKind kind, Tensor? valid)
    {
        this.plan = plan;
        this.source = source;
        this.kind = kind;
        Valid = valid;
    }

    /// <summary>[rows, L] bool: true at the steps that hold data; null when every step does.</summary>
    public Tensor? Valid { get; set; }

    public bool Sampling => plan is not null;

    /// <summary>
    /// x with one mask value per row and unit of its last dimension, the same at every step (variational dropout); a
    /// deterministic pass scales instead. <paramref name="ordinal"/> below 0: the site has rate 0 and draws nothing.
    /// </summary>
    public Tensor PerUnit(Tensor x, int ordinal, double p)
    {
        if (ordinal < 0)
        {
            return x;
        }

        if (!Sampling)
        {
            return Deterministic(x, p);
        }

        long units = x.shape[^1];
        var mask = source!.Mask(plan!, ordinal, (int)units, p, KeptScale(p), x.dtype);
        return Masked(x, mask.view([mask.shape[0], .. Enumerable.Repeat(1L, (int)x.dim() - 2), units]));
    }

    /// <summary>x with one mask value per row and value (element-wise dropout over the whole per-row activation).</summary>
    public Tensor PerValue(Tensor x, int ordinal, double p)
    {
        if (ordinal < 0)
        {
            return x;
        }

        if (!Sampling)
        {
            return Deterministic(x, p);
        }

        long width = x.numel() / Math.Max(x.shape[0], 1);
        var mask = source!.Mask(plan!, ordinal, checked((int)width), p, KeptScale(p), x.dtype);
        return Masked(x, mask.view([mask.shape[0], .. x.shape[1..]]));
    }

    /// <summary>
    /// x times per-sample (or, when rows gather their masks, per-row) mask rows, broadcast over each sample's rows rather
    /// than copied to every row: an attention mask is heads x L x L values, and a sample may own hundreds of rows. Rows past
    /// the plan's (the predictor's padding) pass unmasked.
    /// </summary>
    private Tensor Masked(Tensor x, Tensor mask)
    {
        long rows = x.shape[0];
        long group = plan!.RowToSample is null ? plan.RowsPerSample : 1;
        long covered = mask.shape[0] * group;
        var head = covered == rows ? x : x.narrow(0, 0, covered);
        var masked = head.reshape([mask.shape[0], group, .. head.shape[1..]]).mul(mask.unsqueeze(1)).view(head.shape);
        return covered == rows ? masked : cat([masked, x.narrow(0, covered, rows - covered)], 0);
    }

    /// <summary>
    /// [rows, width] mask of stream <paramref name="ordinal"/>: 0 or the kept scale, one row per activation row (rows past the
    /// plan's, the predictor's padding, keep everything). Unit j of a row is the same unit whatever else runs in the pass.
    /// </summary>
    public Tensor Rows(int ordinal, int width, double p, long rows, ScalarType dtype)
    {
        var mask = source!.Mask(plan!, ordinal, width, p, KeptScale(p), dtype);
        if (plan!.RowToSample is null && plan.RowsPerSample > 1)
        {
            mask = mask.repeat_interleave(plan.RowsPerSample, dim: 0);
        }

        return PadRows(mask, rows, 1);
    }

    /// <summary>
    /// [rows, n] mask values of chosen units (<paramref name="units"/>, [rows, n] int64 below <paramref name="width"/>) of
    /// stream <paramref name="ordinal"/>: word dropout reads its vocabulary-wide mask at each row's tokens only.
    /// </summary>
    public Tensor At(Tensor units, int ordinal, int width, double p, ScalarType dtype)
    {
        long rows = units.shape[0];
        var keys = plan!.Keys.select(0, ordinal);
        keys = plan.RowToSample is { } rowToSample ? keys.index_select(0, rowToSample)
            : plan.RowsPerSample > 1 ? keys.repeat_interleave(plan.RowsPerSample, dim: 0)
            : keys;
        long covered = keys.shape[0];
        var mask = source!.MaskAt(keys, units.narrow(0, 0, Math.Min(rows, covered)), width, p, KeptScale(p), dtype);
        return PadRows(mask, rows, 1);
    }

    public double DeterministicScale(double p) => kind == DropoutKind.Standard ? 1 - p : 1;

    private double KeptScale(double p) => kind.KeptScale(p);

    private Tensor Deterministic(Tensor x, double p)
    {
        if (kind != DropoutKind.Standard)
        {
            return x;
        }

        using var factor = (1 - p).ToScalar();
        return x.mul(factor);
    }

    private static Tensor PadRows(Tensor mask, long rows, double fill)
    {
        if (mask.shape[0] >= rows)
        {
            return mask.shape[0] == rows ? mask : mask.narrow(0, 0, rows);
        }

        using var value = fill.ToScalar();
        return cat([mask, full([rows - mask.shape[0], .. mask.shape[1..]], value, mask.dtype, mask.device)], 0);
    }
}
