using System.Buffers.Binary;
using System.IO.Compression;
using Uncertainty.Model.Data;

namespace Uncertainty.Model.Tests;

public sealed class ImageDataTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("uncertainty-images-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Idx_images_and_labels_round_trip_raw_or_gzipped(bool gzip)
    {
        byte[] pixels = [.. Enumerable.Range(0, 3 * 2 * 4).Select(i => (byte)(i * 10))];
        var images = Write("images", Idx(IdxReader.ImagesMagic, [3, 2, 4], pixels), gzip);
        var labels = Write("labels", Idx(IdxReader.LabelsMagic, [3], [7, 0, 9]), gzip);

        var read = IdxReader.ReadImages(images);

        Assert.Equal((3, 2, 4), (read.Count, read.Height, read.Width));
        Assert.Equal(pixels, read.Pixels);
        Assert.Equal([7, 0, 9], IdxReader.ReadLabels(labels));
    }

    [Fact]
    public void A_labels_file_read_as_images_is_refused_naming_the_file_and_the_magic()
    {
        var path = Write("labels", Idx(IdxReader.LabelsMagic, [2], [1, 2]), gzip: false);

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("0x00000801", error.Message, StringComparison.Ordinal);
        Assert.Contains("label file", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_truncated_file_is_refused_with_the_lengths(bool gzip)
    {
        var path = Write("images", Idx(IdxReader.ImagesMagic, [5, 2, 2], new byte[12]), gzip);

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
        Assert.Contains("20 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_shorter_than_its_header_or_longer_than_stated_is_refused()
    {
        var stub = Write("stub", [0, 0, 8], gzip: false);
        var longer = Write("longer", Idx(IdxReader.LabelsMagic, [2], [1, 2, 3]), gzip: false);

        Assert.Contains("shorter than the 16-byte", Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(stub)).Message, StringComparison.Ordinal);
        Assert.Contains("more data than", Assert.Throws<InvalidDataException>(() => IdxReader.ReadLabels(longer)).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(10_000_000, 4096, 4096, "at most 1073741824")]
    [InlineData(1, 100_000, 28, "each side must be 1 to 4096")]
    [InlineData(-1, 28, 28, "0 to 10000000")]
    public void Absurd_dimensions_are_refused_from_the_header_alone(int count, int height, int width, string expected)
    {
        var path = Write("images", Idx(IdxReader.ImagesMagic, [count, height, width], []), gzip: true);

        var error = Assert.Throws<InvalidDataException>(() => IdxReader.ReadImages(path));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Files_whose_md5_differs_from_the_published_one_are_refused_and_nothing_is_stored()
    {
        var source = Directory.CreateDirectory(Path.Combine(folder, "from")).FullName;
        foreach (var (file, magic, dims) in new[] { ("train", IdxReader.ImagesMagic, new[] { 1, 28, 28 }), ("t10k", IdxReader.ImagesMagic, [1, 28, 28]) })
        {
            File.WriteAllBytes(Path.Combine(source, $"{file}-images-idx3-ubyte"), Idx(magic, dims, new byte[784]));
            File.WriteAllBytes(Path.Combine(source, $"{file}-labels-idx1-ubyte"), Idx(IdxReader.LabelsMagic, [1], [3]));
        }

        var cache = new DataCache(Path.Combine(folder, "cache"));

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => cache.FetchAsync("mnist", source));

        Assert.Contains("train-images-idx3-ubyte: MD5", error.Message, StringComparison.Ordinal);
        Assert.Contains("6bbc9ace898e44ae57da46a324031adb", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(cache.PathOf("mnist")));
    }

    [Fact]
    public async Task A_download_that_does_not_match_the_pinned_integrity_is_refused()
    {
        using var http = new HttpClient(new FixedResponse(new byte[1000]));
        var cache = new DataCache(Path.Combine(folder, "cache"), http);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => cache.FetchAsync("mnist"));

        Assert.Contains("does not match the pinned sha512-", error.Message, StringComparison.Ordinal);
        Assert.Empty(Directory.EnumerateFileSystemEntries(cache.Directory));
    }

    [Theory]
    [InlineData("mnist")]
    [InlineData("fashion-mnist")]
    public void Loading_a_dataset_that_was_never_fetched_names_the_fetch_command(string name)
    {
        var cache = new DataCache(Path.Combine(folder, "empty"));

        var error = Assert.Throws<FileNotFoundException>(() => cache.Load(name, ImageSplit.Train));

        Assert.Contains($"uncertainty fetch {name}", error.Message, StringComparison.Ordinal);
        Assert.Contains(cache.Directory, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_cache_directory_is_the_variable_then_xdg_then_home()
    {
        static string Resolve(string? variable, string? xdg) =>
            DataCache.DefaultDirectory(name => name == DataCache.DirectoryVariable ? variable : name == "XDG_CACHE_HOME" ? xdg : null, "/home/u");

        Assert.Equal("/data/cache", Resolve("/data/cache", "/xdg"));
        Assert.Equal("/xdg/uncertainty/data", Resolve(null, "/xdg"));
        Assert.Equal("/home/u/.cache/uncertainty/data", Resolve("", "relative"));
    }

    [Fact]
    public void Digits_load_as_one_by_eight_by_eight_images_with_a_seeded_split()
    {
        var all = ImageDatasets.Load("digits", ImageSplit.All);
        var train = ImageDatasets.Load("digits", ImageSplit.Train);
        var test = ImageDatasets.Load("digits", ImageSplit.Test);

        Assert.Equal((1, 8, 8, 64, 1797, 16.0), (all.Channels, all.Height, all.Width, all.PixelsPerImage, all.Count, all.PixelMax));
        Assert.Equal(16f, all.Pixels.Max());
        Assert.Equal((1438, 359), (train.Count, test.Count));
        Assert.Equal(test.Pixels, ImageDatasets.Load("digits", ImageSplit.Test).Pixels);
        var table = train.ToDataset();
        Assert.Equal(("p0", "p63", TaskKind.Classification), (table.FeatureNames[0], table.FeatureNames[^1], table.Task));
        Assert.Equal(train.Labels, table.Labels);
    }

    [Fact]
    public void Take_and_concat_keep_images_and_labels_together()
    {
        var digits = ImageDatasets.LoadDigits(ImageSplit.All);

        var joined = digits.Take(3).Concat(digits.Subset([5]));

        Assert.Equal([.. digits.Labels[..3], digits.Labels[5]], joined.Labels);
        Assert.Equal(digits.Pixels.AsSpan(5 * 64, 64).ToArray(), joined.Pixels[(3 * 64)..]);
    }

    [RealDatasetFact("mnist")]
    public void Real_mnist_from_the_cache_has_its_published_counts_and_class_balance()
    {
        var train = ImageDatasets.Load("mnist", ImageSplit.Train);
        var test = ImageDatasets.Load("mnist", ImageSplit.Test);

        Assert.Equal((60_000, 10_000), (train.Count, test.Count));
        Assert.Equal((1, 28, 28, 255.0), (train.Channels, train.Height, train.Width, train.PixelMax));
        // The published per-digit counts of the MNIST training and test sets.
        Assert.Equal([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], train.ClassCounts());
        Assert.Equal([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], test.ClassCounts());
        Assert.Equal((0f, 255f), (train.Pixels.Min(), train.Pixels.Max()));
    }

    private static byte[] Idx(int magic, int[] dims, byte[] data)
    {
        var bytes = new byte[(4 * (1 + dims.Length)) + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, magic);
        for (int d = 0; d < dims.Length; d++)
        {
            BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(4 * (d + 1)), dims[d]);
        }

        data.CopyTo(bytes, 4 * (1 + dims.Length));
        return bytes;
    }

    private string Write(string name, byte[] bytes, bool gzip)
    {
        var path = Path.Combine(folder, gzip ? $"{name}.gz" : name);
        using var file = File.Create(path);
        using var stream = gzip ? new GZipStream(file, CompressionLevel.Fastest) : (Stream)file;
        stream.Write(bytes);
        return path;
    }
}
