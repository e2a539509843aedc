using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Model.Native;

/// <summary>
/// TorchSharp 0.107's libLibTorchSharp.so needs GLIBCXX_3.4.32 for one symbol,
/// <c>std::ios_base_library_init()</c>, that it references but never calls. Hosts whose libstdc++
/// stops at 3.4.30 (Debian 12) refuse to load it. Marking that single version reference weak lets
/// the loader accept it; hosts that have the version (Ubuntu 24.04) are left untouched.
/// </summary>
public static partial class LibStdCxxCompatibility
{
    /// <summary>Versions known to guard only symbols that LibTorchSharp never calls.</summary>
    public static readonly IReadOnlySet<string> SafeToWeaken = new HashSet<string>(StringComparer.Ordinal) { "GLIBCXX_3.4.32" };

    private const string LibStdCxx = "libstdc++.so.6";

    /// <summary>What <see cref="Apply"/> found and did.</summary>
    public sealed record Outcome(string Library, IReadOnlyList<string> Missing, bool Patched);

    /// <summary>
    /// Checks <paramref name="library"/> against the host libstdc++ and, if the host lacks only
    /// versions in <see cref="SafeToWeaken"/>, rewrites the file in place (atomically) with those marked weak.
    /// </summary>
    public static Outcome Apply(string library, IReadOnlySet<string> hostVersions, ILogger logger)
    {
        var bytes = File.ReadAllBytes(library);
        var missing = ElfVersionNeeds.ReadNeeded(bytes)
            .Where(v => v.File == LibStdCxx && !v.IsWeak && !hostVersions.Contains(v.Name))
            .Select(v => v.Name)
            .ToList();
        if (missing.Count == 0)
        {
            return new Outcome(library, missing, Patched: false);
        }

        var unsafeMissing = missing.Where(v => !SafeToWeaken.Contains(v)).ToList();
        if (unsafeMissing.Count > 0)
        {
            throw new PlatformNotSupportedException(
                $"{library} needs {string.Join(", ", unsafeMissing)} from {LibStdCxx}, which this host's C++ runtime lacks; " +
                "install a newer libstdc++ (GCC 13 or later) or run on Ubuntu 24.04 or the official .NET 10 images.");
        }

        ElfVersionNeeds.MarkWeak(bytes, SafeToWeaken);
        try
        {
            AtomicFile.WriteAllBytes(library, bytes);
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            throw new PlatformNotSupportedException(
                $"{library} needs {string.Join(", ", missing)}, which this host's libstdc++ lacks, and it cannot be patched in place ({e.Message}). " +
                "Start the application once where its directory is writable (e.g. while building the image), or use a host with GCC 13's libstdc++.", e);
        }

        Log.MarkedWeak(logger, missing, library);
        return new Outcome(library, missing, Patched: true);
    }

    /// <summary>The version names the host's libstdc++.so.6 defines, read from the file the loader maps.</summary>
    public static IReadOnlySet<string> HostVersions()
    {
        var path = HostLibraryPath()
            ?? throw new PlatformNotSupportedException($"{LibStdCxx} could not be found on this host; install the C++ runtime (Debian: libstdc++6).");
        return ElfVersionNeeds.ReadDefined(File.ReadAllBytes(path));
    }

    /// <summary>Loads libstdc++ the way the dynamic loader would and reads which file it mapped.</summary>
    public static string? HostLibraryPath()
    {
        if (!NativeLibrary.TryLoad(LibStdCxx, out _))
        {
            return null;
        }

        return File.ReadLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length >= 6 && Path.GetFileName(fields[5]).StartsWith("libstdc++.so", StringComparison.Ordinal))
            .Select(fields => fields[5])
            .FirstOrDefault();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Information,
            Message = "Marked {Versions} weak in {Library}: the host libstdc++ lacks it and LibTorchSharp never calls the symbol it guards")]
        public static partial void MarkedWeak(ILogger logger, IReadOnlyList<string> versions, string library);
    }
}
