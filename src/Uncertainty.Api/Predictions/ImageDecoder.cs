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

    public static float[] ToRow(ReadOnlySpan<byte> encoded, ImageInput image)
    {
        using var data = SKData.CreateCopy(encoded);
        using var codec = SKCodec.Create(data)
            ?? throw new UnsupportedMediaTypeException("Not a picture", "The 'image' part is not a PNG or JPEG image that can be decoded.");
        if (codec.EncodedFormat is not (SKEncodedImageFormat.Png or SKEncodedImageFormat.Jpeg))
        {
            throw new UnsupportedMediaTypeException("Unsupported picture format", $"The 'image' part is {codec.EncodedFormat}; send a PNG or JPEG.");
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

        // Linear filtering with mipmaps averages every source pixel on a large downscale, as an area resize would.
        using var resized = decoded.Resize(new SKImageInfo(image.Width, image.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear))
            ?? throw new RequestValidationException("image", "The picture cannot be resized to the model's input.");
        return Planes(resized, image);
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
