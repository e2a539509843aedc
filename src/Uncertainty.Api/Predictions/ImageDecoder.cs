using SkiaSharp;
using Uncertainty.Api.Problems;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Predictions;

/// <summary>
/// An uploaded PNG or JPEG as one input row of an image model, as the model's <see cref="ImageInput"/> says: composited over
/// white where transparent, converted to grey (or kept as RGB planes for 3 channels), resized to the model's height x width,
/// inverted when its background is the opposite of the training images', scaled so full intensity is the model's pixel maximum.
/// </summary>
public static class ImageDecoder
{
    /// <summary>Pictures larger than this (width x height) are refused before they are decoded: a small file can claim a huge bitmap.</summary>
    public const long MaxPixels = 4096L * 4096;

    /// <summary>
    /// Decodes at once: a picture at <see cref="MaxPixels"/> decodes into a 64 MiB bitmap, so concurrent uploads would
    /// otherwise multiply that by however many requests the thread pool runs together.
    /// </summary>
    private static readonly SemaphoreSlim Decoding = new(Math.Clamp(Environment.ProcessorCount / 2, 1, 4));

    /// <summary><see cref="ToRow"/> within the decoding budget, off the request's thread.</summary>
    public static async Task<float[]> ToRowAsync(byte[] encoded, ImageInput image, CancellationToken cancellationToken)
    {
        await Decoding.WaitAsync(cancellationToken);
        try
        {
            return await Task.Run(() => ToRow(encoded, image), cancellationToken);
        }
        finally
        {
            Decoding.Release();
        }
    }

    public static float[] ToRow(ReadOnlySpan<byte> encoded, ImageInput image)
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new UnsupportedMediaTypeException("Not a picture", "The 'image' part is not a PNG or JPEG image that can be decoded.");
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg))
        {
            throw new UnsupportedMediaTypeException("Unsupported picture format", $"The 'image' part is {codec.EncodedFormat}; send a PNG or JPEG.");
        }

        if (codec.EncodedFormat == SKEncodedImageFormat.Jpeg && !EndsAfterLastScan(encoded))
        {
            // A progressive JPEG cut short still decodes (from the scans it has) and Skia reports success.
            throw new RequestValidationException("image", "The picture is truncated: the JPEG has no end-of-image marker after its last scan.");
        }

        var info = codec.Info;
        if (info.Width < 1 || info.Height < 1 || (long)info.Width * info.Height > MaxPixels)
        {
            throw new RequestValidationException("image", $"The picture is {info.Width}x{info.Height}; at most {MaxPixels:N0} pixels are accepted.");
        }

        using var decoded = new SKBitmap(new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        var result = codec.GetPixels(decoded.Info, decoded.GetPixels());
        if (result == SKCodecResult.IncompleteInput)
        {
            // Skia fills the missing rows and reports success-with-gaps: a cut-off upload must not be predicted as a whole picture.
            throw new RequestValidationException("image", "The picture is truncated: its data ends before its last row.");
        }

        if (result != SKCodecResult.Success)
        {
            throw new RequestValidationException("image", $"The picture cannot be decoded ({result}).");
        }

        // Phone photos are stored sideways with an EXIF orientation; the model must see what a viewer shows.
        using var upright = Upright(decoded, codec.EncodedOrigin);

        // Linear filtering with mipmaps averages every source pixel on a large downscale, as an area resize would.
        using var resized = upright.Resize(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
            ?? throw new RequestValidationException("image", "The picture cannot be resized to the model's input.");
        return Planes(resized, image);
    }

    /// <summary>
    /// True when a JPEG's end-of-image marker (FF D9) comes after its last start-of-scan (FF DA). Inside entropy-coded data
    /// a 0xFF byte is always followed by 00 or a restart marker, so FF D9 there can only be the real end.
    /// </summary>
    internal static bool EndsAfterLastScan(ReadOnlySpan<byte> jpeg)
    {
        int end = jpeg.LastIndexOf((ReadOnlySpan<byte>)[0xFF, 0xD9]);
        int scan = jpeg.LastIndexOf((ReadOnlySpan<byte>)[0xFF, 0xDA]);
        return end > scan && scan >= 0;
    }

    /// <summary>The bitmap as displayed under its EXIF orientation (a copy; the same pixels for the usual top-left origin).</summary>
    private static SKBitmap Upright(SKBitmap stored, SKEncodedOrigin origin)
    {
        if (origin is SKEncodedOrigin.TopLeft or 0)
        {
            return stored.Copy();
        }

        int w = stored.Width, h = stored.Height;
        bool swaps = origin >= SKEncodedOrigin.LeftTop;
        var upright = new SKBitmap(new SKImageInfo(swaps ? h : w, swaps ? w : h, stored.ColorType, stored.AlphaType));
        // Whole 32-bit pixels (the decode is Rgba8888), moved through managed arrays: per-pixel Get/SetPixel calls cost seconds at 16 M pixels.
        var source = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(stored.GetPixelSpan());
        var target = new int[upright.Width * upright.Height];
        for (int y = 0; y < upright.Height; y++)
        {
            for (int x = 0; x < upright.Width; x++)
            {
                // The stored pixel each displayed pixel comes from (EXIF orientations 2-8).
                var (sx, sy) = origin switch
                {
                    SKEncodedOrigin.TopRight => (w - 1 - x, y),
                    SKEncodedOrigin.BottomRight => (w - 1 - x, h - 1 - y),
                    SKEncodedOrigin.BottomLeft => (x, h - 1 - y),
                    SKEncodedOrigin.LeftTop => (y, x),
                    SKEncodedOrigin.RightTop => (y, h - 1 - x),
                    SKEncodedOrigin.RightBottom => (w - 1 - y, h - 1 - x),
                    SKEncodedOrigin.LeftBottom => (w - 1 - y, x),
                    _ => (x, y),
                };
                target[(y * upright.Width) + x] = source[(sy * w) + sx];
            }
        }

        System.Runtime.InteropServices.Marshal.Copy(target, 0, upright.GetPixels(), target.Length);
        return upright;
    }

    /// <summary>The resized picture as [channels, height, width] values in 0..pixelMax, inverted to the model's background.</summary>
    private static float[] Planes(SKBitmap bitmap, ImageInput image)
    {
        int plane = image.Height * image.Width;
        var intensity = new double[image.Channels * plane]; // 0..1
        double border = 0;
        int borderCount = 0;
        for (int y = 0; y < image.Height; y++)
        {
            for (int x = 0; x < image.Width; x++)
            {
                var pixel = bitmap.GetPixel(x, y);
                double alpha = pixel.Alpha / 255.0;
                // Transparent parts read as white paper.
                double Over(byte value) => ((value / 255.0) * alpha) + (1 - alpha);
                double r = Over(pixel.Red), g = Over(pixel.Green), b = Over(pixel.Blue);
                double grey = (0.299 * r) + (0.587 * g) + (0.114 * b);
                if (image.Channels == 3)
                {
                    intensity[(y * image.Width) + x] = r;
                    intensity[plane + (y * image.Width) + x] = g;
                    intensity[(2 * plane) + (y * image.Width) + x] = b;
                }
                else
                {
                    for (int c = 0; c < image.Channels; c++)
                    {
                        intensity[(c * plane) + (y * image.Width) + x] = grey;
                    }
                }

                if (y == 0 || x == 0 || y == image.Height - 1 || x == image.Width - 1)
                {
                    border += grey;
                    borderCount++;
                }
            }
        }

        // The border is background: a light one on a model trained on light ink over dark (MNIST) is inverted, and vice versa.
        bool light = border / borderCount > 0.5;
        bool invert = light != (image.Background == ImageBackground.Light);
        return [.. intensity.Select(v => (float)((invert ? 1 - v : v) * image.PixelMax))];
    }
}
