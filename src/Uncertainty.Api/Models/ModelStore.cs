using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Models;

/// <summary>
/// The model packages on disk: {root}/{name}/{version}/ with integer versions. Names are allowlisted
/// and every path is resolved under the root, so no request can reach outside it.
/// </summary>
public sealed partial class ModelStore(IOptions<UncertaintyOptions> options, IHostEnvironment environment)
{
    public string Root { get; } = Path.GetFullPath(options.Value.ModelStore, environment.ContentRootPath);

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,63}$")]
    public static partial Regex ValidName();

    public IReadOnlyList<int> Versions(string name) =>
        Directory.Exists(ModelDirectory(name))
            ? [.. Directory.GetDirectories(ModelDirectory(name))
                .Select(Path.GetFileName)
                .Select(v => int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1)
                .Where(v => v > 0 && File.Exists(Path.Combine(VersionDirectory(name, v), ModelPackage.ManifestFileName)))
                .Order()]
            : [];

    public int? LatestVersion(string name) => Versions(name) is { Count: > 0 } versions ? versions[^1] : null;

    public string VersionDirectory(string name, int version) => Path.Combine(ModelDirectory(name), version.ToString(CultureInfo.InvariantCulture));

    /// <summary>Saves <paramref name="package"/> as the next version of <paramref name="name"/>; returns that version.</summary>
    public int Add(string name, ModelPackage package)
    {
        var version = (LatestVersion(name) ?? 0) + 1;
        package.Save(VersionDirectory(name, version));
        return version;
    }

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
}
