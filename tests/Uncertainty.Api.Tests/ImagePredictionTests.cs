using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using SkiaSharp;
using Uncertainty.Api.Predictions;
using Uncertainty.Model.Data;

namespace Uncertainty.Api.Tests;

/// <summary>The built-in 'digits' CNN (1x8x8, pixels 0-16, light ink on dark) through JSON rows and picture uploads.</summary>
public sealed class ImagePredictionTests(UncertaintyApiFactory factory) : IClassFixture<UncertaintyApiFactory>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The first row of the bundled digits.csv (a 0), in raw pixel units 0-16.</summary>
    private static float[] Zero() => BundledDatasets.Load("digits").Features[..64];

    private static float[][][] Nested(float[] flat) => [[.. Enumerable.Range(0, 8).Select(r => flat.AsSpan(r * 8, 8).ToArray())]];

    /// <summary>An 8 x 8 grey PNG of the values (0-16 mapped to 0-255), optionally dark ink on white.</summary>
    private static byte[] Png(float[] pixels, bool darkOnLight = false, int scale = 1)
    {
        using var bitmap = new SKBitmap(new SKImageInfo(8 * scale, 8 * scale, SKColorType.Gray8, SKAlphaType.Opaque));
        for (int y = 0; y < 8 * scale; y++)
        {
            for (int x = 0; x < 8 * scale; x++)
            {
                var value = (byte)Math.Round(pixels[((y / scale) * 8) + (x / scale)] * 255 / 16);
                bitmap.SetPixel(x, y, darkOnLight ? new SKColor((byte)(255 - value), (byte)(255 - value), (byte)(255 - value)) : new SKColor(value, value, value));
            }
        }

        using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private async Task<HttpResponseMessage> UploadAsync(byte[] picture, string model = "digits", string query = "?samples=40&seed=3", string field = "image")
    {
        var client = await factory.ReadyClientAsync();
        var content = new ByteArrayContent(picture);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        using var form = new MultipartFormDataContent { { content, field, "picture.png" } };
        return await client.PostAsync($"/models/{model}/predict/image{query}", form);
    }

    private async Task<PredictResponse> PredictJsonAsync(object body)
    {
        var client = await factory.ReadyClientAsync();
        var response = await client.PostAsJsonAsync("/models/digits/predict", body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!;
    }

    [Fact]
    public async Task Nested_channel_height_width_rows_equal_flat_rows()
    {
        var zero = Zero();

        var response = await PredictJsonAsync(new { inputs = new object[] { Nested(zero), zero }, samples = 40, seed = 3 });

        Assert.Equal("0", response.Predictions[0].Label);
        Assert.Equal(response.Predictions[0].Probabilities, response.Predictions[1].Probabilities);
        Assert.Equal(response.Predictions[0].MutualInformation, response.Predictions[1].MutualInformation);
    }

    [Fact]
    public async Task A_seed_query_above_2_to_the_53_minus_1_is_refused_naming_seed()
    {
        var response = await UploadAsync(Png(Zero()), query: "?samples=10&seed=9007199254740992");

        var problem = await Problems.ReadAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("seed", out _), problem.ToString());
    }

    [Fact]
    public async Task A_row_of_the_wrong_shape_is_refused_naming_the_expected_shape()
    {
        var client = await factory.ReadyClientAsync();

        var response = await client.PostAsJsonAsync("/models/digits/predict", new { inputs = new object[] { new[] { new[] { 1.0, 2.0 } } } });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>(Json);
        Assert.Contains("[1, 8, 8]", problem.GetProperty("errors").GetProperty("inputs[0][0]")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_uploaded_picture_predicts_as_its_pixels_sent_as_json()
    {
        var zero = Zero();
        // What the picture holds after 8-bit quantisation, in the model's 0-16 units.
        float[] quantised = [.. zero.Select(v => (float)(Math.Round(v * 255 / 16) / 255 * 16))];

        var uploaded = await UploadAsync(Png(zero));
        var asJson = await PredictJsonAsync(new { inputs = new[] { quantised }, samples = 40, seed = 3 });

        Assert.Equal(HttpStatusCode.OK, uploaded.StatusCode);
        var fromPicture = (await uploaded.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions[0];
        Assert.Equal("0", fromPicture.Label);
        for (int c = 0; c < 10; c++)
        {
            Assert.Equal(asJson.Predictions[0].Probabilities![c], fromPicture.Probabilities![c], 5);
        }
    }

    [Fact]
    public async Task Dark_ink_on_white_paper_is_inverted_to_the_models_light_on_dark_and_larger_pictures_are_resized()
    {
        var zero = Zero();

        var direct = await UploadAsync(Png(zero));
        var inverted = await UploadAsync(Png(zero, darkOnLight: true, scale: 4));

        var a = (await direct.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions[0];
        var b = (await inverted.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions[0];
        Assert.Equal(a.Label, b.Label);
        // A 4x block-upscaled picture resized back down is the same picture up to filtering at block edges.
        Assert.InRange(Math.Abs(a.Probabilities![0] - b.Probabilities![0]), 0, 0.05);
    }

    [Fact]
    public async Task Returned_samples_hold_one_probability_vector_per_pass()
    {
        var response = await UploadAsync(Png(Zero()), query: "?samples=12&seed=1&returnSamples=true");

        var row = (await response.Content.ReadFromJsonAsync<PredictResponse>(Json))!.Predictions[0];
        Assert.Equal(12, row.Samples!.Length);
        Assert.All(row.Samples, pass => Assert.Equal(1.0, pass.Sum(p => (double)p), 4));
    }

    [Fact]
    public async Task Bytes_that_are_not_a_picture_are_415_and_a_missing_part_400()
    {
        var garbage = await UploadAsync("not a png at all"u8.ToArray());
        var missing = await UploadAsync(Png(Zero()), field: "file");

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, garbage.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("'image' part", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_truncated_picture_and_two_pictures_are_refused()
    {
        var png = Png(Zero(), scale: 8);
        var client = await factory.ReadyClientAsync();
        using var two = new MultipartFormDataContent
        {
            { new ByteArrayContent(png), "image", "a.png" },
            { new ByteArrayContent(png), "image", "b.png" },
        };

        var truncated = await UploadAsync(png[..(png.Length * 2 / 3)]);
        var twice = await client.PostAsync("/models/digits/predict/image", two);

        Assert.Equal(HttpStatusCode.BadRequest, truncated.StatusCode);
        Assert.Contains("truncated", await truncated.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, twice.StatusCode);
        Assert.Contains("one picture per request", await twice.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_photo_stored_sideways_is_read_as_its_EXIF_orientation_shows_it()
    {
        // 32 x 32, a light stripe down the left edge; EXIF orientation 6 says "rotate 90 degrees clockwise to display",
        // which puts the stripe along the top.
        using var bitmap = new SKBitmap(new SKImageInfo(32, 32, SKColorType.Gray8, SKAlphaType.Opaque));
        bitmap.Erase(SKColors.Black);
        for (int y = 0; y < 32; y++)
        {
            for (int x = 0; x < 8; x++)
            {
                bitmap.SetPixel(x, y, SKColors.White);
            }
        }

        using var encoded = bitmap.Encode(SKEncodedImageFormat.Jpeg, 95);
        var jpeg = encoded.ToArray();
        byte[] exif = [0xFF, 0xE1, 0, 34, .. "Exif\0\0"u8, .. "II*\0"u8, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        byte[] rotated = [.. jpeg[..2], .. exif, .. jpeg[2..]];
        var image = new Uncertainty.Model.Packaging.ImageInput(1, 8, 8, 16, Uncertainty.Model.Packaging.ImageBackground.Dark);

        var stored = ImageDecoder.ToRow(jpeg, image);
        var shown = ImageDecoder.ToRow(rotated, image);

        double Mean(float[] row, Func<int, bool> where) => Enumerable.Range(0, 64).Where(where).Average(i => row[i]);
        Assert.True(Mean(stored, i => i % 8 < 2) > 12 && Mean(stored, i => i / 8 < 2) < 6, "stored: stripe on the left");
        Assert.True(Mean(shown, i => i / 8 < 2) > 12 && Mean(shown, i => i % 8 < 2) < 6, "shown: stripe along the top");
    }

    [Fact]
    public void A_jpeg_needs_its_end_marker_after_its_last_scan()
    {
        byte[] whole = [0xFF, 0xD8, 0xFF, 0xDA, 1, 2, 0xFF, 0x00, 3, 0xFF, 0xDA, 4, 5, 0xFF, 0xD9];
        byte[] cut = whole[..11]; // a progressive JPEG stopped in its second scan

        Assert.True(ImageDecoder.EndsAfterLastScan(whole));
        Assert.False(ImageDecoder.EndsAfterLastScan(cut));
        Assert.False(ImageDecoder.EndsAfterLastScan([0xFF, 0xD8, 0xFF, 0xD9, 0xFF, 0xDA, 1]));
    }

    [Fact]
    public async Task A_picture_claiming_a_huge_size_is_refused_before_it_is_decoded()
    {
        // A valid PNG signature and header claiming 100,000 x 100,000 pixels (40 GB as RGBA), and almost no data.
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, 100_000);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), 100_000);
        header[8] = 8; // bit depth; colour type 0 (grey)
        byte[] png = [0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10, .. Chunk("IHDR", header), .. Chunk("IDAT", [0x78, 0x9C, 3, 0, 0, 0, 0, 1]), .. Chunk("IEND", [])];

        var response = await UploadAsync(png);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("100000x100000", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_tabular_model_refuses_pictures_and_says_where_rows_go()
    {
        var response = await UploadAsync(Png(Zero()), model: "boston");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not an image model", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_model_description_gives_the_image_preprocessing()
    {
        var client = await factory.ReadyClientAsync();

        var details = await client.GetFromJsonAsync<JsonElement>("/models/digits", Json);

        var image = details.GetProperty("image");
        Assert.Equal(8, image.GetProperty("height").GetInt32());
        Assert.Equal(16, image.GetProperty("pixelMax").GetDouble());
        Assert.Equal("dark", image.GetProperty("background").GetString());
        Assert.Equal("[1,8,8]", details.GetProperty("network").GetProperty("inputShape").GetRawText());
    }

    private static byte[] Chunk(string type, byte[] data)
    {
        byte[] typed = [.. System.Text.Encoding.ASCII.GetBytes(type), .. data];
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        typed.CopyTo(chunk, 4);
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32(typed));
        return chunk;
    }

    /// <summary>PNG's chunk checksum (CRC-32, polynomial 0xEDB88320).</summary>
    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB88320 : crc >> 1;
            }
        }

        return ~crc;
    }
}
