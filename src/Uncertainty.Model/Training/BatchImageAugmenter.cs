using TorchSharp;
using Uncertainty.Model.Inference;
using static TorchSharp.torch;

namespace Uncertainty.Model.Training;

/// <summary>
/// Applies an <see cref="ImageAugmentation"/> to a whole batch [N, C, H, W] on the batch's own device, in a few tensor
/// operations: one affine_grid + grid_sample for shift, rotation and flip, then one mask for cutout and random erasing.
/// </summary>
/// <remarks>
/// Every random choice is drawn on the host from a SplitMix64 stream of (seed, step, image index), so image i of a
/// batch gets the same augmentation whatever the batch size or device, the same (seed, step) gives a bit-identical
/// batch, and TorchSharp's global generator is never touched. The draws are uploaded in one [N, 14] tensor.
/// <list type="bullet">
/// <item>Geometry: an integer shift of up to <see cref="ImageAugmentation.MaxShift"/> pixels each way, a rotation about
/// the centre of up to <see cref="ImageAugmentation.MaxRotationDegrees"/>, and a left-right mirror with probability 1/2
/// when <see cref="ImageAugmentation.HorizontalFlip"/> is set, sampled nearest-neighbour (torchvision's default for
/// RandomAffine): shifts and flips move pixels exactly, and pixels that come from outside the image become fill.</item>
/// <item>Cutout (DeVries and Taylor): with <see cref="ImageAugmentation.CutoutProbability"/>, a square of side
/// <see cref="ImageAugmentation.CutoutSize"/> centred on a uniformly drawn pixel (top-left at centre - size / 2),
/// clipped to the image, becomes fill.</item>
/// <item>Random erasing (Zhong et al. 2017, as torchvision's RandomErasing): with
/// <see cref="ImageAugmentation.ErasingProbability"/>, up to 10 tries of an area of 2-33 % of the image and a
/// log-uniform aspect (height / width) in [0.3, 3.3], sides rounded, until the rectangle is smaller than the image in
/// both directions; it is then placed uniformly inside the image and becomes fill. If no try fits, nothing is erased.</item>
/// </list>
/// The options are expected to have passed <see cref="TrainingOptions.Validate"/>.
/// </remarks>
public static class BatchImageAugmenter
{
    /// <summary>Per image: the 2x3 affine matrix (6), then the cutout and the erasing box as top, bottom, left, right (4 + 4).</summary>
    private const int ParameterCount = 14;

    private const int ErasingAttempts = 10;

    /// <summary>
    /// Returns a new augmented batch of the same shape, dtype and device; <paramref name="images"/> is left as it was.
    /// <paramref name="fill"/> is the value of a blank pixel in the batch's units (e.g. the standardised 0).
    /// </summary>
    public static Tensor Apply(Tensor images, ImageAugmentation augmentation, float fill, ulong seed, long step)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(augmentation);
        if (images.dim() != 4 || images.shape[2] != augmentation.Height || images.shape[3] != augmentation.Width)
        {
            throw new ArgumentException(
                $"Expected a batch [N, C, {augmentation.Height}, {augmentation.Width}], got [{string.Join(", ", images.shape)}].", nameof(images));
        }

        if (!images.is_floating_point())
        {
            throw new ArgumentException($"Expected floating-point images, got {images.dtype}.", nameof(images));
        }

        int count = (int)images.shape[0], height = augmentation.Height, width = augmentation.Width;
        if (count == 0)
        {
            return images.clone();
        }

        var draws = Draw(count, augmentation, seed, step);

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var fillScalar = fill.ToScalar();
        var parameters = tensor(draws, [count, ParameterCount], device: images.device);
        var result = images;
        if (augmentation.MaxShift > 0 || augmentation.MaxRotationDegrees > 0 || augmentation.HorizontalFlip)
        {
            var theta = parameters.narrow(1, 0, 6).reshape(count, 2, 3).to(images.dtype);
            var grid = nn.functional.affine_grid(theta, [count, 1, height, width], align_corners: false);
            var moved = nn.functional.grid_sample(images, grid, GridSampleMode.Nearest, GridSamplePaddingMode.Zeros, align_corners: false);

            // grid_sample pads with zeros; sampling ones shows which pixels came from outside, and those become fill exactly.
            var inside = nn.functional.grid_sample(ones([count, 1, height, width], images.dtype, images.device), grid, GridSampleMode.Nearest, GridSamplePaddingMode.Zeros, align_corners: false);
            using var half = 0.5.ToScalar();
            result = moved.masked_fill(inside.lt(half), fillScalar);
        }

        if (augmentation.CutoutProbability > 0 || augmentation.ErasingProbability > 0)
        {
            using var heightScalar = height.ToScalar();
            using var widthScalar = width.ToScalar();
            var rows = arange(heightScalar, ScalarType.Float32, images.device).view(1, 1, height, 1);
            var columns = arange(widthScalar, ScalarType.Float32, images.device).view(1, 1, 1, width);
            var blank = InBox(parameters, 6, rows, columns).logical_or(InBox(parameters, 10, rows, columns));
            result = result.masked_fill(blank, fillScalar);
        }

        return (ReferenceEquals(result, images) ? images.clone() : result).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The host-side draws, [count, 14] row-major. Each image reads its own SplitMix64 stream in a fixed order (shift y,
    /// shift x, angle, flip, cutout, cutout centre y, x, erasing, then the erasing tries), whatever the options.
    /// </summary>
    internal static float[] Draw(int count, ImageAugmentation augmentation, ulong seed, long step)
    {
        int height = augmentation.Height, width = augmentation.Width, shift = augmentation.MaxShift;
        var stepSeed = DropoutMasks.SplitMix64(seed + ((ulong)step * 0xD1B54A32D192ED03UL));
        var draws = new float[count * ParameterCount];
        for (int i = 0; i < count; i++)
        {
            var random = new SplitMixStream(DropoutMasks.SplitMix64(stepSeed + (ulong)i));
            var row = draws.AsSpan(i * ParameterCount, ParameterCount);
            int dy = random.Below((2 * shift) + 1) - shift;
            int dx = random.Below((2 * shift) + 1) - shift;
            double angle = ((2 * random.Uniform()) - 1) * augmentation.MaxRotationDegrees * Math.PI / 180;
            bool flip = random.Uniform() < 0.5 && augmentation.HorizontalFlip;
            Affine(row, height, width, dy, dx, angle, flip);

            bool cutout = random.Uniform() < augmentation.CutoutProbability;
            int top = random.Below(height) - (augmentation.CutoutSize / 2), left = random.Below(width) - (augmentation.CutoutSize / 2);
            int size = cutout ? augmentation.CutoutSize : 0;
            Box(row[6..], top, top + size, left, left + size);

            bool erasing = random.Uniform() < augmentation.ErasingProbability;
            for (int attempt = 0; erasing && attempt < ErasingAttempts; attempt++)
            {
                double area = height * width * (0.02 + (random.Uniform() * 0.31));
                double aspect = Math.Exp(Math.Log(0.3) + (random.Uniform() * (Math.Log(3.3) - Math.Log(0.3))));
                int h = (int)Math.Round(Math.Sqrt(area * aspect)), w = (int)Math.Round(Math.Sqrt(area / aspect));
                if (h < height && w < width)
                {
                    top = random.Below(height - h + 1);
                    left = random.Below(width - w + 1);
                    Box(row[10..], top, top + h, left, left + w);
                    break;
                }
            }
        }

        return draws;
    }

    /// <summary>
    /// The matrix that affine_grid (align_corners false) needs: it maps an output position to the input position it
    /// samples, in coordinates normalised to [-1, 1]. In centred pixel units the output is the input mirrored (when
    /// flipped), rotated by the angle and shifted by (dx, dy), so an output point p samples F (R(-angle) p - d);
    /// theta = S^-1 F R(-angle) S with S = diag(W/2, H/2), and translation -S^-1 F d.
    /// </summary>
    private static void Affine(Span<float> theta, int height, int width, int dy, int dx, double angle, bool flip)
    {
        double cos = Math.Cos(angle), sin = Math.Sin(angle), mirror = flip ? -1 : 1;
        double sx = width / 2.0, sy = height / 2.0;
        theta[0] = (float)(mirror * cos);
        theta[1] = (float)(mirror * sin * sy / sx);
        theta[2] = (float)(-mirror * dx / sx);
        theta[3] = (float)(-sin * sx / sy);
        theta[4] = (float)cos;
        theta[5] = (float)(-dy / sy);
    }

    private static void Box(Span<float> box, int top, int bottom, int left, int right)
    {
        box[0] = top;
        box[1] = bottom;
        box[2] = left;
        box[3] = right;
    }

    /// <summary>[N, 1, H, W]: whether each pixel lies in the image's box [top, bottom) x [left, right) at the offset.</summary>
    private static Tensor InBox(Tensor parameters, int offset, Tensor rows, Tensor columns)
    {
        Tensor Bound(int k) => parameters.select(1, offset + k).reshape(-1, 1, 1, 1);
        var inRows = rows.ge(Bound(0)).logical_and(rows.lt(Bound(1)));
        var inColumns = columns.ge(Bound(2)).logical_and(columns.lt(Bound(3)));
        return inRows.logical_and(inColumns);
    }

    /// <summary>SplitMix64 as a generator: the k-th draw is SplitMix64(start + k).</summary>
    private struct SplitMixStream(ulong start)
    {
        private ulong state = start;

        /// <summary>Uniform on [0, 1) with 53 random bits.</summary>
        public double Uniform() => (DropoutMasks.SplitMix64(state++) >> 11) * (1.0 / (1UL << 53));

        /// <summary>Uniform integer in [0, n).</summary>
        public int Below(int n) => Math.Min((int)(Uniform() * n), n - 1);
    }
}
