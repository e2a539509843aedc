using System.Security.Cryptography;

namespace Uncertainty.Api.Predictions;

/// <summary>
/// Seeds on the wire are 0 to 2^53 - 1: the integers every JSON client holds exactly (JavaScript's
/// Number.MAX_SAFE_INTEGER, and a 64-bit signed integer), so a returned seed sent back replays the same numbers.
/// </summary>
public static class Seeds
{
    /// <summary>The largest seed accepted or chosen: 2^53 - 1 = 9007199254740991.</summary>
    public const ulong Max = (1UL << 53) - 1;

    /// <summary>A fresh random seed in 0..<see cref="Max"/>, for a request that gives none.</summary>
    public static ulong Fresh() => BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)) & Max;

    /// <summary>Adds a problem keyed by <paramref name="field"/> to <paramref name="errors"/> when a requested seed is above <see cref="Max"/>.</summary>
    public static void Check(ulong? seed, string field, IDictionary<string, string[]> errors)
    {
        if (seed > Max)
        {
            errors[field] = [$"{field} must be between 0 and {Max} (2^53 - 1, the largest integer every JSON client holds exactly); got {seed}."];
        }
    }
}
