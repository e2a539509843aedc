using Uncertainty.Model.Training;
using static TorchSharp.torch;

namespace Uncertainty.Model.Tests;

public class BatchImageAugmenterTests
{
    private const float Fill = -0.5f;

    /// <summary>[count, channels, size, size] of one value, with optional lit pixels (value 1) in every image and channel.</summary>
    private static float[] Images(int count, int channels, int size, float background, params (int Y, int X)[] lit)
    {
        var values = Enumerable.Repeat(background, count * channels * size * size).ToArray();
        for (int plane = 0; plane < count * channels; plane++)
        {
            foreach (var (y, x) in lit)
            {
                values[(plane * size * size) + (y * size) + x] = 1;
            }
        }

        return values;
    }

    private static float[] Augment(float[] values, long[] shape, ImageAugmentation augmentation, ulong seed = 11, long step = 0)
    {
        using var images = tensor(values, shape);
        using var augmented = BatchImageAugmenter.Apply(images, augmentation, Fill, seed, step);
        return augmented.data<float>().ToArray();
    }

    /// <summary>The (y, x) positions in image i (first channel) whose value equals the given one.</summary>
    private static List<(int Y, int X)> Where(float[] values, int image, int channels, int size, float value)
    {
        var found = new List<(int, int)>();
        int offset = image * channels * size * size;
        for (int y = 0; y < size; y++)
        {
            for (int x = 0; x < size; x++)
            {
                if (values[offset + (y * size) + x] == value)
                {
                    found.Add((y, x));
                }
            }
        }

        return found;
    }

    /// <summary>Height and width of the box spanned by the points, which must fill it exactly.</summary>
    private static (int Top, int Left, int Height, int Width) Rectangle(List<(int Y, int X)> points)
    {
        int top = points.Min(p => p.Y), left = points.Min(p => p.X);
        int height = points.Max(p => p.Y) - top + 1, width = points.Max(p => p.X) - left + 1;
        Assert.Equal(height * width, points.Count);
        return (top, left, height, width);
    }

    [Fact]
    public void Same_seed_and_step_give_bit_identical_batches_and_another_step_differs()
    {
        var augmentation = new ImageAugmentation
        {
            Height = 12, Width = 12, MaxShift = 2, MaxRotationDegrees = 15, HorizontalFlip = true, CutoutProbability = 0.5, ErasingProbability = 0.5,
        };
        var values = TestNetworks.Inputs(16 * 3, 12 * 12);
        long[] shape = [16, 3, 12, 12];

        var first = Augment(values, shape, augmentation, seed: 5, step: 3);
        var again = Augment(values, shape, augmentation, seed: 5, step: 3);
        var nextStep = Augment(values, shape, augmentation, seed: 5, step: 4);
        var otherSeed = Augment(values, shape, augmentation, seed: 6, step: 3);

        Assert.Equal(first, again);
        Assert.NotEqual(first, nextStep);
        Assert.NotEqual(first, otherSeed);
    }

    [Fact]
    public void An_image_gets_the_same_augmentation_whatever_the_batch_size()
    {
        var augmentation = new ImageAugmentation { Height = 8, Width = 8, MaxShift = 2, MaxRotationDegrees = 10, CutoutProbability = 0.5, ErasingProbability = 0.5 };
        var values = TestNetworks.Inputs(8, 64);

        var all = Augment(values, [8, 1, 8, 8], augmentation);
        var firstHalf = Augment(values[..(4 * 64)], [4, 1, 8, 8], augmentation);

        Assert.Equal(all[..(4 * 64)], firstHalf);
    }

    [Fact]
    public void Shift_only_moves_a_single_lit_pixel_by_at_most_max_shift()
    {
        var augmentation = new ImageAugmentation { Height = 9, Width = 9, MaxShift = 2 };
        var output = Augment(Images(64, 2, 9, Fill, (4, 4)), [64, 2, 9, 9], augmentation);

        var offsets = new HashSet<(int, int)>();
        for (int i = 0; i < 64; i++)
        {
            var lit = Assert.Single(Where(output, i, 2, 9, 1));
            Assert.InRange(lit.Y - 4, -2, 2);
            Assert.InRange(lit.X - 4, -2, 2);
            Assert.Equal(80, Where(output, i, 2, 9, Fill).Count);
            offsets.Add((lit.Y - 4, lit.X - 4));
        }

        Assert.True(offsets.Count > 10, $"only {offsets.Count} of the 25 shifts drawn in 64 images");
    }

    [Fact]
    public void Pixels_shifted_in_from_outside_the_image_become_fill()
    {
        var augmentation = new ImageAugmentation { Height = 6, Width = 6, MaxShift = 2 };
        var output = Augment(Images(32, 1, 6, 1), [32, 1, 6, 6], augmentation);

        Assert.All(output, v => Assert.True(v is 1 or Fill));
        Assert.Contains(Fill, output);
    }

    [Fact]
    public void Flip_off_never_mirrors_and_flip_on_mirrors_some_images_exactly()
    {
        // An asymmetric image: lit pixels at (1, 0) and (5, 2).
        var values = Images(32, 1, 7, 0, (1, 0), (5, 2));
        var mirrored = Images(1, 1, 7, 0, (1, 6), (5, 4));
        var off = Augment(values, [32, 1, 7, 7], new ImageAugmentation { Height = 7, Width = 7, MaxShift = 0 });
        var on = Augment(values, [32, 1, 7, 7], new ImageAugmentation { Height = 7, Width = 7, MaxShift = 0, HorizontalFlip = true });

        Assert.Equal(values, off);
        int flipped = 0;
        for (int i = 0; i < 32; i++)
        {
            var image = on.AsSpan(i * 49, 49);
            bool isMirror = image.SequenceEqual(mirrored);
            Assert.True(isMirror || image.SequenceEqual(values.AsSpan(0, 49)), $"image {i} is neither the original nor its mirror");
            flipped += isMirror ? 1 : 0;
        }

        Assert.InRange(flipped, 1, 31);
    }

    [Fact]
    public void No_rotation_and_no_shift_through_the_sampling_grid_is_the_identity()
    {
        // Flip enabled so the affine_grid + grid_sample path runs; the images it does not mirror must come back as
        // they were. Nearest sampling at pixel centres is exact; 1e-6 allows for the grid's float32 coordinates.
        var values = TestNetworks.Inputs(16 * 3, 10 * 10);
        var output = Augment(values, [16, 3, 10, 10], new ImageAugmentation { Height = 10, Width = 10, MaxShift = 0, HorizontalFlip = true });

        int unchanged = 0;
        for (int i = 0; i < 16; i++)
        {
            var original = values.AsSpan(i * 300, 300);
            var augmented = output.AsSpan(i * 300, 300);
            bool same = true;
            for (int k = 0; k < 300; k++)
            {
                same &= Math.Abs(original[k] - augmented[k]) <= 1e-6;
            }

            unchanged += same ? 1 : 0;
        }

        Assert.InRange(unchanged, 1, 15);
    }

    [Fact]
    public void Rotation_keeps_the_centre_and_moves_other_pixels_along_their_circle()
    {
        // 9x9, centre (4, 4); a pixel at distance 3 lands within one pixel of distance 3 under nearest sampling.
        var augmentation = new ImageAugmentation { Height = 9, Width = 9, MaxShift = 0, MaxRotationDegrees = 40 };
        var centre = Augment(Images(32, 1, 9, 0, (4, 4)), [32, 1, 9, 9], augmentation);
        var ring = Augment(Images(32, 1, 9, 0, (4, 7)), [32, 1, 9, 9], augmentation);

        int moved = 0;
        for (int i = 0; i < 32; i++)
        {
            Assert.Equal((4, 4), Assert.Single(Where(centre, i, 1, 9, 1)));
            var lit = Where(ring, i, 1, 9, 1);
            Assert.All(lit, p => Assert.InRange(Math.Sqrt(((p.Y - 4) * (p.Y - 4)) + ((p.X - 4) * (p.X - 4))), 2.0, 4.0));
            moved += lit.SequenceEqual([(4, 7)]) ? 0 : 1;
        }

        Assert.True(moved > 0);
    }

    [Fact]
    public void Cutout_with_probability_one_fills_a_cutout_size_square_clipped_to_the_image()
    {
        var augmentation = new ImageAugmentation { Height = 10, Width = 10, MaxShift = 0, CutoutProbability = 1, CutoutSize = 3 };
        var output = Augment(Images(64, 2, 10, 1), [64, 2, 10, 10], augmentation);

        int whole = 0;
        for (int i = 0; i < 64; i++)
        {
            var (top, left, height, width) = Rectangle(Where(output, i, 2, 10, Fill));
            Assert.Equal(Where(output, i, 2, 10, Fill), Where(output.AsSpan(100).ToArray(), i, 2, 10, Fill)); // the second channel alike
            bool clipped = top == 0 || left == 0 || top + height == 10 || left + width == 10;
            Assert.True(clipped ? height <= 3 && width <= 3 : height == 3 && width == 3, $"image {i}: {height}x{width} at ({top}, {left})");
            whole += height == 3 && width == 3 ? 1 : 0;
        }

        Assert.True(whole > 32, $"only {whole} of 64 cutouts were whole squares");
    }

    [Fact]
    public void Random_erasing_fills_a_rectangle_of_2_to_33_percent_of_the_image()
    {
        const int size = 16;
        var augmentation = new ImageAugmentation { Height = size, Width = size, MaxShift = 0, ErasingProbability = 1 };
        var output = Augment(Images(64, 1, size, 1), [64, 1, size, size], augmentation);

        for (int i = 0; i < 64; i++)
        {
            var erased = Where(output, i, 1, size, Fill);
            Assert.NotEmpty(erased);
            var (_, _, h, w) = Rectangle(erased);

            // The sides are sqrt(area x aspect) and sqrt(area / aspect) rounded, each within 1/2 of the exact value.
            Assert.True((h - 0.5) * (w - 0.5) <= 0.33 * size * size, $"image {i}: {h}x{w} above 33 %");
            Assert.True((h + 0.5) * (w + 0.5) >= 0.02 * size * size, $"image {i}: {h}x{w} below 2 %");
            Assert.InRange((h - 0.5) / (w + 0.5), 0, 3.3);
            Assert.InRange((h + 0.5) / (w - 0.5), 0.3, double.PositiveInfinity);
            Assert.True(h < size && w < size);
        }
    }

    [Fact]
    public void Output_keeps_the_shape_dtype_and_device_and_leaves_the_input_alone()
    {
        var values = TestNetworks.Inputs(5 * 2, 8 * 8);
        using var images = tensor(values, [5, 2, 8, 8]);
        var augmentation = new ImageAugmentation { Height = 8, Width = 8, MaxShift = 1, MaxRotationDegrees = 5, CutoutProbability = 1 };

        using var augmented = BatchImageAugmenter.Apply(images, augmentation, Fill, seed: 1, step: 2);

        Assert.Equal(images.shape, augmented.shape);
        Assert.Equal(ScalarType.Float32, augmented.dtype);
        Assert.Equal((images.device_type, images.device_index), (augmented.device_type, augmented.device_index));
        Assert.Equal(values, images.data<float>().ToArray());
    }

    [Fact]
    public void Images_of_the_wrong_size_are_refused()
    {
        using var images = zeros(2, 1, 8, 7);

        Assert.Throws<ArgumentException>(() => BatchImageAugmenter.Apply(images, new ImageAugmentation { Height = 8, Width = 8 }, 0, 1, 0));
    }

    [Fact]
    public void A_rotation_beyond_180_degrees_fails_validation()
    {
        var options = new TrainingOptions { Image = new ImageAugmentation { Height = 8, Width = 8, MaxRotationDegrees = 200 } };

        var error = Assert.Throws<ArgumentException>(() => options.Validate());
        Assert.Contains("maxRotationDegrees", error.Message, StringComparison.Ordinal);
    }
}
