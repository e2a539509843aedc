using System.Buffers.Binary;
using System.Text;

namespace Uncertainty.Model.Native;

/// <summary>
/// Reads and edits the symbol-version tables of a 64-bit little-endian ELF shared object:
/// the versions it defines (<c>.gnu.version_d</c>) and the versions it needs from each dependency
/// (<c>.gnu.version_r</c>). Just enough ELF to mark one needed version weak.
/// </summary>
public static class ElfVersionNeeds
{
    private const uint ShtGnuVerdef = 0x6ffffffd;
    private const uint ShtGnuVerneed = 0x6ffffffe;

    /// <summary>VER_FLG_WEAK: the dynamic loader tolerates a dependency that lacks this version.</summary>
    public const ushort WeakFlag = 0x2;

    /// <summary>One Vernaux entry: a version needed from <see cref="File"/>.</summary>
    /// <param name="FlagsOffset">File offset of the entry's vna_flags field, for patching.</param>
    public sealed record NeededVersion(string File, string Name, ushort Flags, long FlagsOffset)
    {
        public bool IsWeak => (Flags & WeakFlag) != 0;
    }

    /// <summary>The versions each dependency must provide, in file order.</summary>
    public static IReadOnlyList<NeededVersion> ReadNeeded(ReadOnlySpan<byte> elf)
    {
        var result = new List<NeededVersion>();
        foreach (var (section, strings) in VersionSections(elf, ShtGnuVerneed))
        {
            long entry = section.Offset;
            for (uint i = 0; i < section.Info; i++)
            {
                var fileName = ReadString(elf, strings, U32(elf, entry + 4));
                ushort count = U16(elf, entry + 2);
                long aux = entry + U32(elf, entry + 8);
                for (int j = 0; j < count; j++)
                {
                    result.Add(new NeededVersion(fileName, ReadString(elf, strings, U32(elf, aux + 8)), U16(elf, aux + 4), aux + 4));
                    aux += U32(elf, aux + 12);
                }

                entry += U32(elf, entry + 12);
            }
        }

        return result;
    }

    /// <summary>The version names a library defines (its own SONAME entry included).</summary>
    public static IReadOnlySet<string> ReadDefined(ReadOnlySpan<byte> elf)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (section, strings) in VersionSections(elf, ShtGnuVerdef))
        {
            long entry = section.Offset;
            for (uint i = 0; i < section.Info; i++)
            {
                long aux = entry + U32(elf, entry + 12);
                result.Add(ReadString(elf, strings, U32(elf, aux)));
                entry += U32(elf, entry + 16);
            }
        }

        return result;
    }

    /// <summary>Sets VER_FLG_WEAK on every needed version whose name is in <paramref name="versions"/>; returns how many changed.</summary>
    public static int MarkWeak(Span<byte> elf, IReadOnlySet<string> versions)
    {
        int changed = 0;
        foreach (var needed in ReadNeeded(elf))
        {
            if (versions.Contains(needed.Name) && !needed.IsWeak)
            {
                BinaryPrimitives.WriteUInt16LittleEndian(elf[checked((int)needed.FlagsOffset)..], (ushort)(needed.Flags | WeakFlag));
                changed++;
            }
        }

        return changed;
    }

    private readonly record struct Section(uint Type, long Offset, long Size, uint Link, uint Info);

    /// <summary>The sections of one type, each with the string table its sh_link names.</summary>
    private static List<(Section Section, Section Strings)> VersionSections(ReadOnlySpan<byte> elf, uint type)
    {
        var sections = Sections(elf);
        return [.. sections.Where(s => s.Type == type).Select(s => (s, sections[checked((int)s.Link)]))];
    }

    private static Section[] Sections(ReadOnlySpan<byte> elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
        {
            throw new InvalidDataException("not an ELF file");
        }

        if (elf[4] != 2 || elf[5] != 1)
        {
            throw new InvalidDataException("only 64-bit little-endian ELF files are supported");
        }

        long tableOffset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]));
        int entrySize = U16(elf, 0x3A);
        int count = U16(elf, 0x3C);
        if (tableOffset <= 0 || entrySize < 64 || tableOffset + ((long)entrySize * count) > elf.Length)
        {
            throw new InvalidDataException("the ELF section header table is missing or truncated");
        }

        var sections = new Section[count];
        for (int i = 0; i < count; i++)
        {
            long at = tableOffset + ((long)i * entrySize);
            long offset = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(elf[checked((int)(at + 24))..]));
            long size = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(elf[checked((int)(at + 32))..]));
            sections[i] = new Section(U32(elf, at + 4), offset, size, U32(elf, at + 40), U32(elf, at + 44));
        }

        return sections;
    }

    private static string ReadString(ReadOnlySpan<byte> elf, Section strings, uint index)
    {
        var start = checked((int)(strings.Offset + index));
        var length = elf[start..].IndexOf((byte)0);
        if (length < 0)
        {
            throw new InvalidDataException("unterminated string in the ELF string table");
        }

        return Encoding.ASCII.GetString(elf.Slice(start, length));
    }

    private static ushort U16(ReadOnlySpan<byte> elf, long at) => BinaryPrimitives.ReadUInt16LittleEndian(elf[checked((int)at)..]);

    private static uint U32(ReadOnlySpan<byte> elf, long at) => BinaryPrimitives.ReadUInt32LittleEndian(elf[checked((int)at)..]);
}
