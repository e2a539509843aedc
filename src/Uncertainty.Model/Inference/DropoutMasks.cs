using TorchSharp;
using static TorchSharp.torch;

namespace Uncertainty.Model.Inference;

/// <summary>
/// Which dropout masks one forward pass uses. Mask row i belongs to sample i, identified by
/// (seed, index); the mask is a pure function of (seed, index, layer, unit), so a sample gets the same
/// mask whether it runs alone, merged with other requests, chunked, on the CPU or on a GPU.
/// </summary>
/// <param name="keys">[dropout layers, samples] int64 sample keys on the compute device (see <see cref="WriteKeys"/>).</param>
/// <param name="rowToSample">For each activation row, the sample whose mask it takes; null when row i is sample i.</param>
/// <param name="expandIndex">For each activation row, the input row it starts from; null when the input rows are the rows.</param>
public sealed class MaskPlan(Tensor keys, Tensor? rowToSample, Tensor? expandIndex)
{
    public Tensor Keys { get; } = keys;

    public Tensor? RowToSample { get; } = rowToSample;

    public Tensor? ExpandIndex { get; } = expandIndex;

    public long Samples => Keys.shape[1];

    /// <summary>A plan whose keys are computed here and uploaded in one copy.</summary>
    public static MaskPlan Create(ReadOnlySpan<ulong> seeds, ReadOnlySpan<long> indices, int layers, Device device, Tensor? rowToSample = null, Tensor? expandIndex = null)
    {
        var keys = new long[layers * seeds.Length];
        WriteKeys(keys, seeds, indices, layers);
        return new MaskPlan(tensor(keys, [layers, seeds.Length], device: device), rowToSample, expandIndex);
    }

    /// <summary>A plan for one training step: every row draws its own mask.</summary>
    public static MaskPlan ForTraining(ulong seed, long step, int rows, int layers, Device device)
    {
        var stepSeed = DropoutMasks.SplitMix64(seed + ((ulong)step * 0xD1B54A32D192ED03UL));
        var seeds = new ulong[rows];
        var indices = new long[rows];
        for (int i = 0; i < rows; i++)
        {
            seeds[i] = stepSeed;
            indices[i] = i;
        }

        return Create(seeds, indices, layers, device);
    }

    /// <summary>Writes the 32-bit key of every sample (seeds[i], indices[i]) for each dropout layer, layer-major.</summary>
    public static void WriteKeys(Span<long> destination, ReadOnlySpan<ulong> seeds, ReadOnlySpan<long> indices, int layers)
    {
        ArgumentOutOfRangeException.ThrowIfNotEqual(seeds.Length, indices.Length, nameof(indices));
        for (int layer = 0; layer < layers; layer++)
        {
            for (int i = 0; i < seeds.Length; i++)
            {
                destination[(layer * seeds.Length) + i] = DropoutMasks.SampleKey(seeds[i], indices[i], layer);
            }
        }
    }
}

/// <summary>
/// Counter-based dropout masks computed with tensor ops on the target device: a 32-bit integer hash of
/// (sample key XOR hashed unit index), compared with p. TorchSharp 0.107 has no CUDA generators and its
/// default generator is global, so masks are derived from seeds, never drawn from a shared RNG.
/// All intermediate values stay in [0, 2^32) and every multiplier is below 2^31, so int64 arithmetic never overflows.
/// </summary>
public sealed class DropoutMasks(Device device) : IDisposable
{
    private const long Low32 = 0xFFFFFFFFL;
    private const int ThresholdBits = 24;

    private readonly Dictionary<int, Tensor> unitCodes = [];
    private Tensor? shift15;
    private Tensor? shift16;
    private Tensor? shift8;
    private Tensor? low32;
    private Tensor? multiplier1;
    private Tensor? multiplier2;

    public Device Device { get; } = device;

    /// <summary>
    /// The mask for one dropout layer: [rows, width] of 0 and <paramref name="keptScale"/>, in <paramref name="dtype"/>.
    /// A unit is dropped when its hash, read as a 24-bit fraction, falls below <paramref name="p"/>.
    /// </summary>
    public Tensor Mask(MaskPlan plan, int layer, int width, double p, double keptScale, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var hash = Mix32(plan.Keys.select(0, layer).unsqueeze(1).bitwise_xor(UnitCodes(width)));
        // Scalars held in using-scopes: TorchSharp's temporary Scalars can be finalised mid-call (see Training.Optimizer).
        using var threshold = ((long)Math.Round(p * (1 << ThresholdBits))).ToScalar();
        using var scale = keptScale.ToScalar();
        var mask = hash.bitwise_right_shift(Constant(ref shift8, 32 - ThresholdBits)).ge(threshold).to(dtype).mul_(scale);
        if (plan.RowToSample is not null)
        {
            mask = mask.index_select(0, plan.RowToSample);
        }

        return mask.MoveToOuterDisposeScope();
    }

    /// <summary>lowbias32-style finaliser (two multiply-xorshift rounds) on int64 lanes holding 32-bit values.</summary>
    private Tensor Mix32(Tensor x)
    {
        var s16 = Constant(ref shift16, 16);
        var s15 = Constant(ref shift15, 15);
        var mask = Constant(ref low32, Low32);
        x.bitwise_xor_(x.bitwise_right_shift(s16));
        x.mul_(Constant(ref multiplier1, 0x7feb352dL)).bitwise_and_(mask);
        x.bitwise_xor_(x.bitwise_right_shift(s15));
        x.mul_(Constant(ref multiplier2, 0x5bd1e995L)).bitwise_and_(mask);
        x.bitwise_xor_(x.bitwise_right_shift(s16));
        return x;
    }

    /// <summary>A scalar kept on the device for the lifetime of this object, outside every dispose scope.</summary>
    private Tensor Constant(ref Tensor? cached, long value)
    {
        if (cached is null)
        {
            cached = tensor(value, device: Device);
            cached.DetachFromDisposeScope();
        }

        return cached;
    }

    /// <summary>Hashed unit indices [1, width], cached per width on the device.</summary>
    private Tensor UnitCodes(int width)
    {
        if (!unitCodes.TryGetValue(width, out var codes))
        {
            var values = new long[width];
            for (int j = 0; j < width; j++)
            {
                values[j] = (long)(SplitMix64(0x243F6A8885A308D3UL + (ulong)j) >> 32);
            }

            codes = tensor(values, [1, width], device: Device);
            codes.DetachFromDisposeScope();
            unitCodes[width] = codes;
        }

        return codes;
    }

    public void Dispose()
    {
        foreach (var codes in unitCodes.Values)
        {
            codes.Dispose();
        }

        unitCodes.Clear();
        shift8?.Dispose();
        shift15?.Dispose();
        shift16?.Dispose();
        low32?.Dispose();
        multiplier1?.Dispose();
        multiplier2?.Dispose();
    }

    /// <summary>The 32-bit key of sample <paramref name="index"/> of a request seeded <paramref name="seed"/>, at dropout layer <paramref name="layer"/>.</summary>
    public static long SampleKey(ulong seed, long index, int layer)
    {
        var stream = SplitMix64(seed ^ SplitMix64(0x9E3779B97F4A7C15UL * (ulong)(layer + 1)));
        return (long)(SplitMix64(stream + (ulong)index) >> 32);
    }

    /// <summary>Steele, Lea and Flood's SplitMix64 finaliser: a bijective 64-bit mixer.</summary>
    public static ulong SplitMix64(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
