using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Models;

/// <summary>
/// The model packages on disk: {root}/{name}/{version}/ with integer versions, and {root}/{name}/default-version.
/// Names are allowlisted and every path is resolved under the root, so no request can reach outside it.
/// </summary>
public sealed partial class ModelStore(IOptions<UncertaintyOptions> options, IHostEnvironment environment)
{
    private const string DefaultVersionFile = "default-version";

    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Name, int Version), ModelManifest> manifests = new();
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, Listing> listings = new();
    private readonly Lock adding = new();

    public string Root { get; } = Path.GetFullPath(options.Value.ModelStore, environment.ContentRootPath);

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,63}$")]
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
        var stamp = Directory.GetLastWriteTimeUtc(directory); // 1601-01-01 when absent
        if (listings.TryGetValue(name, out var cached) && cached.Stamp == stamp)
        {
            return cached;
        }

        int[] versions = Directory.Exists(directory)
            ? [.. Directory.GetDirectories(directory)
                .Select(Path.GetFileName)
                .Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1)
                .Where(v => v > 0 && File.Exists(Path.Combine(VersionDirectory(name, v), ModelPackage.ManifestFileName)))
                .Order()]
            : [];
        var file = Path.Combine(directory, DefaultVersionFile);
        int? chosen = File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var v) && versions.Contains(v) ? v : null;
        var listing = new Listing(stamp, versions, chosen ?? (versions.Length > 0 ? versions[^1] : null));
        listings[name] = listing;
        return listing;
    }

    public int? LatestVersion(string name) => Versions(name) is { Count: > 0 } versions ? versions[^1] : null;

    /// <summary>Models with at least one version, by name.</summary>
    public IReadOnlyList<string> Names() =>
        Directory.Exists(Root)
            ? [.. Directory.GetDirectories(Root).Select(Path.GetFileName).OfType<string>().Where(n => ValidName().IsMatch(n) && Versions(n).Count > 0).Order(StringComparer.Ordinal)]
            : [];

    public bool Exists(string name, int? version = null) =>
        ValidName().IsMatch(name) && (version is { } v ? Versions(name).Contains(v) : Versions(name).Count > 0);

    /// <summary>The version set with <see cref="SetDefaultVersion"/>, or the newest when none is set (or it was removed).</summary>
    public int? DefaultVersion(string name) => Read(name).DefaultVersion;

    /// <summary>Makes <paramref name="version"/> the default, atomically (readers see the old or the new value).</summary>
    public void SetDefaultVersion(string name, int version)
    {
        if (!Versions(name).Contains(version))
        {
            throw new ArgumentException($"Model '{name}' has no version {version}.", nameof(version));
        }

        AtomicFile.WriteAllBytes(Path.Combine(ModelDirectory(name), DefaultVersionFile), System.Text.Encoding.ASCII.GetBytes(version.ToString(CultureInfo.InvariantCulture)));
    }

    /// <summary>Removes a version: renamed out of sight first (atomic), then deleted.</summary>
    public void DeleteVersion(string name, int version)
    {
        var directory = VersionDirectory(name, version);
        var doomed = Path.Combine(ModelDirectory(name), $".{version}.{Guid.NewGuid():N}.deleted");
        Directory.Move(directory, doomed);
        manifests.TryRemove((name, version), out _);
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
            var version = (LatestVersion(name) ?? 0) + 1;
            package.Save(VersionDirectory(name, version));
            return version;
        }
    }

    /// <summary>A version's manifest (cached: versions are immutable).</summary>
    public ModelManifest Manifest(string name, int version) =>
        manifests.GetOrAdd((name, version), key => ModelPackage.ReadManifest(Path.Combine(VersionDirectory(key.Name, key.Version), ModelPackage.ManifestFileName)));

    private string ModelDirectory(string name)
    {
        if (!ValidName().IsMatch(name))
        {
            throw new ArgumentException($"Model name '{name}' must match {ValidName()}.", nameof(name));
        }

        var directory = Path.GetFullPath(Path.Combine(Root, name));
        return directory.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? directory
            : throw new ArgumentException($"Model name '{name}' resolves outside the model store.", nameof(name));
    }

    private sealed record Listing(DateTime Stamp, int[] Versions, int? DefaultVersion);
}
