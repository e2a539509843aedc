namespace Uncertainty.Model.Training;

/// <summary>Applies an <see cref="ImageAugmentation"/> to one image of raw pixel values (row-major).</summary>
public static class ImageAugmenter
{
    public static void Apply(Span<float> pixels, ImageAugmentation augmentation, Random random)
    {
        int height = augmentation.Height, width = augmentation.Width;
        if (pixels.Length != height * width)
        {
            throw new ArgumentException($"Expected {height}x{width} pixels, got {pixels.Length}.", nameof(pixels));
        }

        var source = pixels.ToArray();
        int dy = random.Next(-augmentation.MaxShift, augmentation.MaxShift + 1);
        int dx = random.Next(-augmentation.MaxShift, augmentation.MaxShift + 1);
        bool flip = augmentation.HorizontalFlip && random.Next(2) == 1;
        for (int y = 0; y < height; y++)
        {
            for (int x = 0; x < width; x++)
            {
                int sy = y - dy, sx = x - dx;
                sx = flip ? width - 1 - sx : sx;
                pixels[(y * width) + x] = sy >= 0 && sy < height && sx >= 0 && sx < width ? source[(sy * width) + sx] : 0;
            }
        }

        if (random.NextDouble() < augmentation.CutoutProbability)
        {
            int cy = random.Next(height), cx = random.Next(width), half = augmentation.CutoutSize / 2;
            Erase(pixels, width, cy - half, cx - half, augmentation.CutoutSize, augmentation.CutoutSize, height);
        }

        if (random.NextDouble() < augmentation.ErasingProbability)
        {
            double area = height * width * (0.02 + (random.NextDouble() * 0.31));
            double aspect = Math.Exp(Math.Log(0.3) + (random.NextDouble() * (Math.Log(3.3) - Math.Log(0.3))));
            int h = Math.Clamp((int)Math.Round(Math.Sqrt(area * aspect)), 1, height);
            int w = Math.Clamp((int)Math.Round(Math.Sqrt(area / aspect)), 1, width);
            Erase(pixels, width, random.Next(height - h + 1), random.Next(width - w + 1), h, w, height);
        }
    }

    private static void Erase(Span<float> pixels, int width, int top, int left, int h, int w, int height)
    {
        for (int y = Math.Max(0, top); y < Math.Min(height, top + h); y++)
        {
            for (int x = Math.Max(0, left); x < Math.Min(width, left + w); x++)
            {
                pixels[(y * width) + x] = 0;
            }
        }
    }
}
