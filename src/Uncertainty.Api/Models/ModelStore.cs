using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Models;

/// <summary>
/// The model packages on disk: {root}/{name}/{version}/ with integer versions, and {root}/{name}/default-version,
/// the explicit pointer to the version the model serves (written atomically; nothing else changes it).
/// Names are allowlisted and every path is resolved under the root, so no request can reach outside it.
/// </summary>
public sealed partial class ModelStore(IOptions<UncertaintyOptions> options, IHostEnvironment environment)
{
    public const string NamePattern = "^[a-z0-9][a-z0-9._-]{0,63}$";
    private const string DefaultVersionFile = "default-version";

    // The highest version number ever given: a deleted version's number is never given again, so anything
    // cached under (name, version) — here or in a reader sharing the store — can never describe another network.
    private const string LastVersionFile = "last-version";

    // A directory's mtime comes from a coarse clock (one tick is several ms): a listing taken within this
    // window of its stamp may miss a change made in the same tick, so it is not trusted (as git does for racy files).
    private static readonly TimeSpan RacyWindow = TimeSpan.FromMilliseconds(250);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Name, int Version), CachedManifest> manifests = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Listing> listings = new();
    private readonly Lock adding = new();

    public string Root { get; } = Path.GetFullPath(options.Value.ModelStore, environment.ContentRootPath);

    /// <summary>ASCII names matched to the very end (\z: a '$' would also match before a final newline).</summary>
    [GeneratedRegex(@"\A[a-z0-9][a-z0-9._-]{0,63}\z")]
    public static partial Regex ValidName();

    /// <summary>
    /// The versions with a manifest, oldest first. Listed once per change of the model directory (its
    /// modification time moves whenever a version or the default-version file is added, renamed or removed,
    /// by this process or another), so a prediction costs one stat, not a directory scan.
    /// </summary>
    public IReadOnlyList<int> Versions(string name) => Read(name).Versions;

    private Listing Read(string name)
    {
        var directory = ModelDirectory(name);
        // The directory's time moves when entries are added, renamed or removed; the pointer's own time when it
        // is rewritten in place (an operator's editor). Either change means a new listing.
        var stamp = Directory.GetLastWriteTimeUtc(directory); // 1601-01-01 when absent
        var pointerStamp = File.GetLastWriteTimeUtc(Path.Combine(directory, DefaultVersionFile));
        if (listings.TryGetValue(name, out var cached) && cached.Stamp == stamp && cached.PointerStamp == pointerStamp
            && cached.ListedAt - Max(stamp, pointerStamp) > RacyWindow)
        {
            return cached;
        }

        var listedAt = DateTime.UtcNow;
        int[] versions = Directory.Exists(directory)
            ? [.. Directory.GetDirectories(directory)
                .Select(Path.GetFileName)
                .Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1)
                .Where(v => v > 0 && File.Exists(Path.Combine(VersionDirectory(name, v), ModelPackage.ManifestFileName)))
                .Order()]
            : [];
        var listing = new Listing(stamp, pointerStamp, listedAt, versions, ReadPointer(directory, versions));
        listings[name] = listing;
        return listing;
    }

    private static int? ReadPointer(string directory, int[] versions)
    {
        var file = Path.Combine(directory, DefaultVersionFile);
        try
        {
            return File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && versions.Contains(v) ? v : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    public int? LatestVersion(string name) => Versions(name) is { Count: > 0 } versions ? versions[^1] : null;

    /// <summary>Models with at least one version, by name.</summary>
    public IReadOnlyList<string> Names() =>
        Directory.Exists(Root)
            ? [.. Directory.GetDirectories(Root).Select(Path.GetFileName).OfType<string>().Where(n => ValidName().IsMatch(n) && Versions(n).Count > 0).Order(StringComparer.Ordinal)]
            : [];

    public bool Exists(string name, int? version = null) =>
        ValidName().IsMatch(name) && (version is { } v ? Versions(name).Contains(v) : Versions(name).Count > 0);

    /// <summary>The version the default-version pointer names; null when there is none (never a guess: adding a version changes nothing served).</summary>
    public int? DefaultVersion(string name) => Read(name).DefaultVersion;

    /// <summary><see cref="Versions"/> and <see cref="DefaultVersion"/> from one look at the model's directory (a prediction resolves its version with one).</summary>
    public (IReadOnlyList<int> Versions, int? DefaultVersion) Listed(string name) => Read(name) is var listing ? (listing.Versions, listing.DefaultVersion) : default;

    /// <summary>Makes <paramref name="version"/> the default, atomically (readers see the old or the new value).</summary>
    public void SetDefaultVersion(string name, int version)
    {
        if (!Versions(name).Contains(version))
        {
            throw new ArgumentException($"Model '{name}' has no version {version}.", nameof(version));
        }

        AtomicFile.WriteAllBytes(Path.Combine(ModelDirectory(name), DefaultVersionFile), System.Text.Encoding.ASCII.GetBytes(version.ToString(CultureInfo.InvariantCulture)));
        listings.TryRemove(name, out _);
    }

    /// <summary>Removes a version: renamed out of sight first (atomic), then deleted.</summary>
    public void DeleteVersion(string name, int version)
    {
        var directory = VersionDirectory(name, version);
        var doomed = Path.Combine(ModelDirectory(name), $".{version}.{Guid.NewGuid():N}.deleted");
        Directory.Move(directory, doomed);
        manifests.TryRemove((name, version), out _);
        listings.TryRemove(name, out _);
        AtomicFile.FlushDirectory(ModelDirectory(name));
        Directory.Delete(doomed, recursive: true);
    }

    public string VersionDirectory(string name, int version) => Path.Combine(ModelDirectory(name), version.ToString(CultureInfo.InvariantCulture));

    /// <summary>Saves <paramref name="package"/> as the next version of <paramref name="name"/>; returns that version.</summary>
    public int Add(string name, ModelPackage package)
    {
        // Training jobs and imports finish on different threads; one number per version.
        lock (adding)
        {
            var last = Math.Max(Math.Max(LatestVersion(name) ?? 0, LastGiven(name)), HighestFolder(name));
            if (last >= int.MaxValue - 1)
            {
                throw new Problems.ConflictException("No version numbers left", $"Model '{name}' has used every version number ({LastVersionFile} says {last}); use another model name.");
            }

            var version = last + 1;
            Directory.CreateDirectory(ModelDirectory(name));
            AtomicFile.WriteAllBytes(Path.Combine(ModelDirectory(name), LastVersionFile), System.Text.Encoding.ASCII.GetBytes(version.ToString(CultureInfo.InvariantCulture)));
            package.Save(VersionDirectory(name, version));
            listings.TryRemove(name, out _);
            return version;
        }
    }

    /// <summary>The highest integer-named folder, finished or not (a copy in progress has no manifest yet).</summary>
    private int HighestFolder(string name) =>
        Directory.Exists(ModelDirectory(name))
            ? Directory.GetDirectories(ModelDirectory(name)).Select(Path.GetFileName)
                .Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0).DefaultIfEmpty(0).Max()
            : 0;

    private int LastGiven(string name)
    {
        var file = Path.Combine(ModelDirectory(name), LastVersionFile);
        return File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var last) ? last : 0;
    }

    /// <summary>
    /// A version's manifest, cached while its file is unchanged (a version removed and re-created by hand under
    /// the same number is read again); <see cref="InvalidDataException"/> without server paths when unreadable.
    /// </summary>
    public ModelManifest Manifest(string name, int version)
    {
        var path = Path.Combine(VersionDirectory(name, version), ModelPackage.ManifestFileName);
        var file = new FileInfo(path);
        try
        {
            if (file.Exists && manifests.TryGetValue((name, version), out var cached) && cached.Stamp == file.LastWriteTimeUtc && cached.Length == file.Length)
            {
                return cached.Manifest;
            }

            var manifest = ModelPackage.ReadManifest(path);
            manifests[(name, version)] = new CachedManifest(file.LastWriteTimeUtc, file.Length, manifest);
            return manifest;
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException(Redact(e.Message), e);
        }
    }

    /// <summary><paramref name="message"/> with the store's absolute path taken out: clients see store-relative paths only.</summary>
    public string Redact(string message) => message.Replace(Root + Path.DirectorySeparatorChar, "", StringComparison.Ordinal).Replace(Root, ".", StringComparison.Ordinal);

    /// <summary>
    /// Start-up hygiene for a writer: removes what a crash left (staging directories, half-written temporary
    /// files, versions renamed for deletion) and gives every model without a default-version pointer one
    /// (its newest version, which is what older releases served), so later additions never change what is served.
    /// </summary>
    public StoreRepair Repair()
    {
        var removed = new List<string>();
        var pointed = new List<string>();
        if (!Directory.Exists(Root))
        {
            return new StoreRepair(removed, pointed);
        }

        foreach (var model in Directory.GetDirectories(Root).Where(d => ValidName().IsMatch(Path.GetFileName(d))))
        {
            foreach (var leftover in Directory.GetFileSystemEntries(model, ".*").Where(IsLeftover))
            {
                if (Directory.Exists(leftover))
                {
                    Directory.Delete(leftover, recursive: true);
                }
                else
                {
                    File.Delete(leftover);
                }

                removed.Add(Redact(leftover));
            }

            var name = Path.GetFileName(model);
            listings.TryRemove(name, out _);
            // Only a missing pointer is written; an unreadable one is the operator's to mend (it is reported).
            if (!File.Exists(Path.Combine(model, DefaultVersionFile)) && LatestVersion(name) is { } newest)
            {
                SetDefaultVersion(name, newest);
                pointed.Add($"{name} -> {newest}");
            }
        }

        return new StoreRepair(removed, pointed);
    }

    private static bool IsLeftover(string path) =>
        path.EndsWith(".staging", StringComparison.Ordinal) || path.EndsWith(".tmp", StringComparison.Ordinal) || path.EndsWith(".deleted", StringComparison.Ordinal);

    private string ModelDirectory(string name)
    {
        if (!ValidName().IsMatch(name))
        {
            throw new ArgumentException($"Model name '{name}' must match {NamePattern}.", nameof(name));
        }

        var directory = Path.GetFullPath(Path.Combine(Root, name));
        return directory.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? directory
            : throw new ArgumentException($"Model name '{name}' resolves outside the model store.", nameof(name));
    }

    private static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;

    private sealed record Listing(DateTime Stamp, DateTime PointerStamp, DateTime ListedAt, int[] Versions, int? DefaultVersion);

    private sealed record CachedManifest(DateTime Stamp, long Length, ModelManifest Manifest);
}

/// <summary>What <see cref="ModelStore.Repair"/> did.</summary>
public sealed record StoreRepair(IReadOnlyList<string> Removed, IReadOnlyList<string> Pointed);
