using System.Runtime.Intrinsics;
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
/// <param name="rowsPerSample">When every sample owns this many consecutive rows: masks are broadcast over them instead of gathered.</param>
public sealed class MaskPlan(Tensor keys, Tensor? rowToSample, int rowsPerSample = 1)
{
    public int RowsPerSample { get; } = rowsPerSample;

    public Tensor Keys { get; } = keys;

    public Tensor? RowToSample { get; } = rowToSample;

    public long Samples => Keys.shape[1];

    /// <summary>A plan whose keys are computed here and uploaded in one copy.</summary>
    public static MaskPlan Create(ReadOnlySpan<ulong> seeds, ReadOnlySpan<long> indices, int layers, Device device, Tensor? rowToSample = null)
    {
        var keys = new long[layers * seeds.Length];
        WriteKeys(keys, seeds, indices, layers);
        return new MaskPlan(tensor(keys, [layers, seeds.Length], device: device), rowToSample);
    }

    /// <summary>A plan for one training step: every row draws its own mask.</summary>
    public static MaskPlan ForTraining(ulong seed, long step, int rows, int layers, Device device)
    {
        var stepSeed = TrainingStepSeed(seed, step);
        var seeds = new ulong[rows];
        var indices = new long[rows];
        for (int i = 0; i < rows; i++)
        {
            seeds[i] = stepSeed;
            indices[i] = i;
        }

        return Create(seeds, indices, layers, device);
    }

    /// <summary>The seed of a training step's masks: row i of the step is sample (this seed, i).</summary>
    internal static ulong TrainingStepSeed(ulong seed, long step) => DropoutMasks.SplitMix64(seed + ((ulong)step * 0xD1B54A32D192ED03UL));

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

    /// <summary>Masks at least this large (elements) are computed on all cores.</summary>
    private const long ParallelElements = 1 << 18;

    private readonly Dictionary<int, Tensor> unitCodes = [];
    private readonly Dictionary<int, uint[]> hostUnitCodes = [];
    private Tensor? shift15;
    private Tensor? shift16;
    private Tensor? shift8;
    private Tensor? low32;
    private Tensor? multiplier1;
    private Tensor? multiplier2;

    public Device Device { get; } = device;

    /// <summary>
    /// The mask for one dropout layer: [rows, width] of 0 and <paramref name="keptScale"/>, in <paramref name="dtype"/>
    /// ([samples, width] when the plan broadcasts, see <see cref="MaskPlan.RowsPerSample"/>).
    /// A unit is dropped when its hash, read as a 24-bit fraction, falls below <paramref name="p"/>.
    /// </summary>
    public Tensor Mask(MaskPlan plan, int layer, int width, double p, double keptScale, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        long thresholdValue = Threshold(p);
        Tensor mask;
        if (Device.type == DeviceType.CPU)
        {
            // The same function in managed SIMD: libtorch's int64 multiply has no AVX2 form, so on the CPU the
            // tensor version cost 17 ms for a merged batch's 3,200 x 1,024 mask, against ~1 ms here.
            mask = HostMask(plan.Keys.select(0, layer), width, (uint)thresholdValue, (float)keptScale);
            if (dtype != ScalarType.Float32)
            {
                mask = mask.to(dtype);
            }
        }
        else
        {
            mask = TensorMask(plan.Keys.select(0, layer), width, thresholdValue, keptScale, dtype);
        }

        if (plan.RowToSample is not null)
        {
            mask = mask.index_select(0, plan.RowToSample);
        }

        return mask.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The mask values of chosen units: for each row, the units in that row of <paramref name="units"/> ([rows, n] int64, each
    /// below <paramref name="width"/>), keyed by that row's key ([rows] int64). The same function as <see cref="Mask"/>, so a
    /// unit gets the value the whole-width mask would give it; for masks over a large unit space (word dropout over a
    /// vocabulary) of which each row reads a few.
    /// </summary>
    public Tensor MaskAt(Tensor rowKeys, Tensor units, int width, double p, double keptScale, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var codes = UnitCodes(width).squeeze(0).index_select(0, units.flatten()).view(units.shape);
        var hash = Mix32(rowKeys.unsqueeze(1).bitwise_xor(codes));
        using var thresholdScalar = ((long)Math.Round(p * (1 << ThresholdBits))).ToScalar();
        using var scale = keptScale.ToScalar();
        return hash.bitwise_right_shift(Constant(ref shift8, 32 - ThresholdBits)).ge(thresholdScalar).to(dtype).mul_(scale).MoveToOuterDisposeScope();
    }

    /// <summary>[samples, width] mask with tensor ops on this object's device (one launch per op on a GPU).</summary>
    internal Tensor TensorMask(Tensor keys, int width, long threshold, double keptScale, ScalarType dtype)
    {
        var hash = Mix32(keys.unsqueeze(1).bitwise_xor(UnitCodes(width)));
        // Scalars held in using-scopes: TorchSharp's temporary Scalars can be finalised mid-call (see Training.Optimizer).
        using var thresholdScalar = threshold.ToScalar();
        using var scale = keptScale.ToScalar();
        return hash.bitwise_right_shift(Constant(ref shift8, 32 - ThresholdBits)).ge(thresholdScalar).to(dtype).mul_(scale);
    }

    /// <summary>
    /// [samples, width] float32 mask on the CPU, computed in managed code: uint32 lanes, eight at a time, with
    /// exactly the arithmetic of <see cref="Mix32"/> (whose int64 lanes hold 32-bit values), so both paths give
    /// the same bits. Rows are split across cores for large masks; no torch call runs off this thread.
    /// </summary>
    internal unsafe Tensor HostMask(Tensor keys, int width, uint threshold, float keptScale)
    {
        int samples = (int)keys.shape[0];
        var codes = HostUnitCodes(width);
        var sampleKeys = keys.contiguous().data<long>().ToArray();
        var mask = empty([samples, width], ScalarType.Float32);
        nint output;
        fixed (byte* data = mask.bytes)
        {
            output = (nint)data; // native (libtorch) memory: the GC never moves it
        }

        void Row(int row)
        {
            MaskRow((uint)sampleKeys[row], codes, threshold, keptScale, new Span<float>((float*)output + ((long)row * width), width));
        }

        if ((long)samples * width >= ParallelElements)
        {
            Parallel.For(0, samples, Row);
        }
        else
        {
            for (int row = 0; row < samples; row++)
            {
                Row(row);
            }
        }

        return mask;
    }

    /// <summary>The 24-bit threshold below which a unit's hash drops it at rate <paramref name="p"/>.</summary>
    internal static uint Threshold(double p) => (uint)Math.Round(p * (1 << ThresholdBits));

    /// <summary>One sample's mask row: unit j is kept (value <paramref name="keptScale"/>) when Mix32(key ^ code j) >> 8 >= threshold.</summary>
    internal static void MaskRow(uint key, ReadOnlySpan<uint> codes, uint threshold, float keptScale, Span<float> row)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var keyVector = Vector256.Create(key);
            var thresholdVector = Vector256.Create(threshold);
            var kept = Vector256.Create(keptScale);
            for (; j <= codes.Length - Vector256<uint>.Count; j += Vector256<uint>.Count)
            {
                var x = keyVector ^ Vector256.Create(codes.Slice(j, Vector256<uint>.Count));
                x ^= Vector256.ShiftRightLogical(x, 16);
                x *= 0x7feb352dU;
                x ^= Vector256.ShiftRightLogical(x, 15);
                x *= 0x5bd1e995U;
                x ^= Vector256.ShiftRightLogical(x, 16);
                var keep = Vector256.GreaterThanOrEqual(Vector256.ShiftRightLogical(x, 32 - ThresholdBits), thresholdVector);
                (keep.AsSingle() & kept).CopyTo(row.Slice(j, Vector256<float>.Count));
            }
        }

        for (; j < codes.Length; j++)
        {
            uint x = key ^ codes[j];
            x ^= x >> 16;
            x *= 0x7feb352dU;
            x ^= x >> 15;
            x *= 0x5bd1e995U;
            x ^= x >> 16;
            row[j] = (x >> (32 - ThresholdBits)) >= threshold ? keptScale : 0f;
        }
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

    /// <summary>The hashed unit indices of <see cref="UnitCodes"/> as host uint32 values, cached per width.</summary>
    private uint[] HostUnitCodes(int width)
    {
        if (!hostUnitCodes.TryGetValue(width, out var codes))
        {
            codes = HostUnitCodesOf(width);
            hostUnitCodes[width] = codes;
        }

        return codes;
    }

    /// <summary>The hashed indices of units 0..width-1 as host uint32 values.</summary>
    internal static uint[] HostUnitCodesOf(int width) => [.. Enumerable.Range(0, width).Select(j => (uint)(SplitMix64(0x243F6A8885A308D3UL + (ulong)j) >> 32))];

    /// <summary>Hashed unit indices [1, width], cached per width on the device.</summary>
    private Tensor UnitCodes(int width)
    {
        if (!unitCodes.TryGetValue(width, out var codes))
        {
            // The host codes widened to int64: the tensor hash works on int64 lanes holding 32-bit values.
            codes = tensor(HostUnitCodesOf(width).Select(code => (long)code).ToArray(), [1, width], device: Device);
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
