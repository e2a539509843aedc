using Uncertainty.Model.Inference;
using Uncertainty.Model.Native;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public class DropoutMaskTests
{
    private static float[] Mask(ulong seed, int samples, int width, double p, double scale, int layer = 0, int firstSample = 0)
    {
        TorchBackend.EnsureInitialized();
        var plan = MaskPlan.Create(
            Enumerable.Repeat(seed, samples).ToArray(),
            Enumerable.Range(firstSample, samples).Select(t => (long)t).ToArray(),
            layers: layer + 1,
            CPU);
        using var mask = new DropoutMasks(CPU).Mask(plan, layer, width, p, scale, ScalarType.Float32);
        return mask.data<float>().ToArray();
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void Zeroed_fraction_matches_p_within_four_standard_errors(double p)
    {
        const int samples = 2000, width = 500;

        var mask = Mask(seed: 11, samples, width, p, scale: 1);

        // Each unit is a Bernoulli(p) draw: the zeroed fraction of N units has standard error sqrt(p(1-p)/N).
        double zeroed = mask.Count(v => v == 0) / (double)mask.Length;
        double standardError = Math.Sqrt(p * (1 - p) / mask.Length);
        Assert.InRange(zeroed, p - (4 * standardError), p + (4 * standardError));
    }

    [Fact]
    public void Inverted_dropout_preserves_the_mean_activation_per_unit()
    {
        const int samples = 4000, width = 64;
        const double p = 0.5;
        var x = Enumerable.Range(0, width).Select(j => 1.0 + (j % 7)).ToArray();

        var mask = Mask(seed: 5, samples, width, p, scale: 1 / (1 - p));

        // E[x m / (1-p)] = x; one unit's sample mean has standard error x sqrt(p / ((1-p) T)).
        // 4.5 standard errors per unit keeps the family-wise false-alarm rate over 64 units below 5e-4.
        for (int j = 0; j < width; j++)
        {
            double mean = Enumerable.Range(0, samples).Average(t => x[j] * mask[(t * width) + j]);
            double standardError = x[j] * Math.Sqrt(p / ((1 - p) * samples));
            Assert.InRange(mean, x[j] - (4.5 * standardError), x[j] + (4.5 * standardError));
        }
    }

    [Fact]
    public void Masks_are_a_function_of_seed_sample_and_layer()
    {
        var first = Mask(seed: 9, samples: 20, width: 100, p: 0.5, scale: 1);
        var again = Mask(seed: 9, samples: 20, width: 100, p: 0.5, scale: 1);
        var otherSeed = Mask(seed: 10, samples: 20, width: 100, p: 0.5, scale: 1);
        var otherLayer = Mask(seed: 9, samples: 20, width: 100, p: 0.5, scale: 1, layer: 1);

        Assert.Equal(first, again);
        Assert.NotEqual(first, otherSeed);
        Assert.NotEqual(first, otherLayer);
    }

    [Fact]
    public void A_sample_gets_the_same_mask_wherever_it_sits_in_the_batch()
    {
        var alone = Mask(seed: 4, samples: 1, width: 50, p: 0.3, scale: 1, firstSample: 17);
        var run = Mask(seed: 4, samples: 30, width: 50, p: 0.3, scale: 1);

        Assert.Equal(alone, run.AsSpan(17 * 50, 50).ToArray());
    }

    [Fact]
    public void Masks_of_different_layers_and_neighbouring_units_are_uncorrelated()
    {
        const int samples = 4000, width = 50;
        var layer0 = Mask(seed: 1, samples, width, p: 0.5, scale: 1);
        var layer1 = Mask(seed: 1, samples, width, p: 0.5, scale: 1, layer: 1);

        // For independent Bernoulli(1/2) pairs the sample correlation of N pairs has standard error 1/sqrt(N).
        double bound = 4 / Math.Sqrt(layer0.Length);
        Assert.InRange(Correlation(layer0, layer1), -bound, bound);
        Assert.InRange(Correlation(layer0.AsSpan(0, layer0.Length - 1).ToArray(), layer0.AsSpan(1).ToArray()), -bound, bound);
    }

    private static double Correlation(float[] a, float[] b)
    {
        double ma = a.Average(), mb = b.Average();
        double cov = a.Zip(b).Sum(pair => (pair.First - ma) * (pair.Second - mb));
        double va = a.Sum(v => (v - ma) * (v - ma)), vb = b.Sum(v => (v - mb) * (v - mb));
        return cov / Math.Sqrt(va * vb);
    }

    [Theory]
    [InlineData(1024, 0.1)]
    [InlineData(50, 0.5)] // width not a multiple of the SIMD lanes: the scalar tail
    [InlineData(3, 0.05)]
    public void The_managed_cpu_masks_equal_the_tensor_masks_gpus_use_bit_for_bit(int width, double p)
    {
        TorchBackend.EnsureInitialized();
        ulong[] seeds = [.. Enumerable.Range(0, 700).Select(i => (ulong)(i % 7) * 1_000_003UL)]; // 700 x width crosses the parallel threshold at 1024
        long[] indices = [.. Enumerable.Range(0, 700).Select(i => (long)i)];
        using var masks = new DropoutMasks(CPU);
        var plan = MaskPlan.Create(seeds, indices, 2, CPU);
        var threshold = (long)Math.Round(p * (1 << 24));

        using var managed = masks.HostMask(plan.Keys.select(0, 1), width, (uint)threshold, (float)(1 / (1 - p)));
        using var tensorOps = masks.TensorMask(plan.Keys.select(0, 1), width, threshold, 1 / (1 - p), ScalarType.Float32);

        Assert.Equal(tensorOps.data<float>().ToArray(), managed.data<float>().ToArray());
    }
}
