using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Uncertainty.Api;

/// <summary>
/// The JSON contract of every request and response: enums are camelCase strings (numbers refused), a field given twice and
/// fields a body type does not have are refused (a misspelt "sampels" would otherwise be dropped silently), and a body that does not fit is
/// described by its JSON field and the expected value in plain words, never by .NET type names.
/// </summary>
public static partial class JsonContract
{
    /// <summary>Applies the contract to the service's HTTP JSON settings.</summary>
    public static void Apply(JsonSerializerOptions options)
    {
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;

        // {"inputs": [...], "inputs": [...]} (or "Inputs", names being read case-insensitively) is ambiguous: a proxy that
        // checked the first and a service that used the last would disagree; refused by name.
        options.AllowDuplicateProperties = false;
        options.Converters.Add(new CamelCaseEnums());
    }

    /// <summary>
    /// camelCase strings for every enum that does not choose its own converter (an enum with a [JsonConverter], such as
    /// the layer types' NamedEnumConverter, keeps it: a converter in the options would otherwise win over the attribute).
    /// </summary>
    private sealed class CamelCaseEnums : JsonConverterFactory
    {
        private readonly JsonStringEnumConverter inner = new(JsonNamingPolicy.CamelCase, allowIntegerValues: false);

        public override bool CanConvert(Type typeToConvert) =>
            typeToConvert.IsEnum && typeToConvert.GetCustomAttribute<JsonConverterAttribute>() is null;

        public override JsonConverter? CreateConverter(Type typeToConvert, JsonSerializerOptions options) =>
            inner.CreateConverter(typeToConvert, options);
    }

    /// <summary>A body that does not fit its type, said as the field (its JSON path, without "$.") and what is wrong with it.</summary>
    /// <param name="Field">The JSON path of the field ("training.epochs", "network.layers[0].type"), or "body" for the whole body.</param>
    /// <param name="Message">What is wrong, naming the field and the value expected in plain words.</param>
    public sealed record BodyError(string Field, string Message);

    /// <summary>What <paramref name="exception"/> means for the client; <paramref name="part"/> names a multipart part the JSON came in ("request").</summary>
    public static BodyError Describe(JsonException exception, string? part = null)
    {
        var message = exception.Message;
        var path = FieldOf(exception.Path);
        BodyError error;
        if (Unmapped().Match(message) is { Success: true } unmapped)
        {
            var name = unmapped.Groups["name"].Value;
            var field = path.EndsWith(name, StringComparison.Ordinal) ? path : Join(path, name);
            error = new BodyError(field, $"Unknown field '{name}'{Suggestion(name, unmapped.Groups["type"].Value)}; remove it or check its spelling.");
        }
        else if (Converted().Match(message) is { Success: true } converted)
        {
            var field = path.Length == 0 ? "body" : path;
            var expected = Expected(converted.Groups["type"].Value, path);
            error = new BodyError(field, field == "body" ? $"The body must be {expected}." : $"Field '{field}' must be {expected}.");
        }
        else if (Duplicate().Match(message) is { Success: true } duplicate)
        {
            // An object's message names the property; a dictionary's does not, its path ends at the key.
            var name = duplicate.Groups["name"].Success ? duplicate.Groups["name"].Value : path.Split('.')[^1];
            var field = path.EndsWith(name, StringComparison.Ordinal) ? path : Join(path, name);
            error = new BodyError(field, $"Field '{name}' is given more than once; send each field once.");
        }
        else if (MissingRequired().Match(message) is { Success: true } missing)
        {
            var names = missing.Groups["names"].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(n => n.Trim('\'')).ToList();
            var field = Join(path, names[0]);
            error = new BodyError(field, $"Field '{field}' is required{(names.Count > 1 ? $" (as are {string.Join(", ", names.Skip(1).Select(n => $"'{Join(path, n)}'"))})" : "")}.");
        }
        else
        {
            // Syntax errors and converters' own messages: up to the JSON path; the line and byte positions add nothing.
            var text = TypeName().Replace(message.Split(" | ")[0], "the expected type");
            error = new BodyError(path.Length == 0 ? "body" : path, text);
        }

        return part is null ? error : error with { Field = error.Field == "body" ? part : $"{part}.{error.Field}" };
    }

    /// <summary>A parameter the framework could not bind ("Failed to bind parameter \"int? samples\" from \"abc\"."), in plain words; null for other messages.</summary>
    public static BodyError? DescribeBinding(string message)
    {
        if (FailedToBind().Match(message) is { Success: true } failed)
        {
            var name = failed.Groups["name"].Value;
            return new BodyError(name, $"Parameter '{name}' must be {Expected(CSharpToClr(failed.Groups["type"].Value))}; got '{failed.Groups["value"].Value}'.");
        }

        if (RequiredParameter().Match(message) is { Success: true } required)
        {
            return required.Groups["source"].Value == "body"
                ? new BodyError("body", "The request body is missing; send a JSON object.")
                : new BodyError(required.Groups["name"].Value, $"Parameter '{required.Groups["name"].Value}' is required.");
        }

        if (ImplicitBody().IsMatch(message))
        {
            return new BodyError("body", "The request body is missing; send a JSON object.");
        }

        return null;
    }

    /// <summary>
    /// What the field at <paramref name="path"/> takes, in words a client understands. The message names either the field's
    /// type or, for records read through their constructor, the type that holds the field: the path is followed from it.
    /// </summary>
    internal static string Expected(string typeName, string path = "")
    {
        var type = Type.GetType(typeName, throwOnError: false) ?? FindType(typeName);
        if (type is not null && path.Length > 0 && IsObject(type))
        {
            var segments = path.Split('.');
            type = Walk(type, segments[^1..]) ?? Walk(type, segments) ?? type;
        }

        return type is not null ? Words(type)
            : typeName.EndsWith("[]", StringComparison.Ordinal) || typeName.Contains("List`1", StringComparison.Ordinal) || typeName.Contains("IEnumerable`1", StringComparison.Ordinal) ? "an array"
            : "a value of another type";
    }

    private static string Words(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type switch
        {
            _ when type.IsEnum => $"one of the strings {string.Join(", ", EnumNames(type).Select(n => $"'{n}'"))}",
            _ when type == typeof(string) || type == typeof(char) => "a string",
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(sbyte) => "an integer",
            _ when type == typeof(uint) || type == typeof(ulong) || type == typeof(ushort) || type == typeof(byte) => "a non-negative integer",
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) || type == typeof(Half) => "a number",
            _ when type == typeof(DateOnly) => "a date (yyyy-MM-dd)",
            _ when type == typeof(DateTime) || type == typeof(DateTimeOffset) => "a date and time (ISO 8601)",
            _ when type == typeof(TimeSpan) => "a duration (hh:mm:ss)",
            _ when type == typeof(Guid) => "a UUID",
            _ when type == typeof(JsonElement) => "a JSON value",
            _ when ElementOf(type) is { } element => $"an array of {Plural(Words(element))}",
            _ => "an object",
        };
    }

    private static string Plural(string words) => words switch
    {
        "a string" => "strings",
        "an integer" => "integers",
        "a non-negative integer" => "non-negative integers",
        "a number" => "numbers",
        "true or false" => "true or false values",
        "an object" => "objects",
        "a JSON value" => "JSON values",
        var other when other.StartsWith("an array of ", StringComparison.Ordinal) => $"arrays of {other["an array of ".Length..]}",
        var other => $"values that are each {other}",
    };

    private static bool IsObject(Type type) => !type.IsPrimitive && !type.IsEnum && type != typeof(string) && ElementOf(type) is null
        && type.Namespace?.StartsWith("Uncertainty.", StringComparison.Ordinal) == true;

    /// <summary>The element type of an array or list type; null for other types (strings and dictionaries included).</summary>
    private static Type? ElementOf(Type type) => type.IsArray ? type.GetElementType()
        : type == typeof(string) || type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>)) ? null
        : (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(IEnumerable<>) ? type : type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>)))?.GetGenericArguments()[0];

    /// <summary>The type of the field at the path's <paramref name="segments"/> ("layers[0]", "type") below <paramref name="type"/>; null when one is not there.</summary>
    private static Type? Walk(Type type, IEnumerable<string> segments)
    {
        Type? current = type;
        foreach (var segment in segments)
        {
            var name = segment.Split('[')[0];
            var property = current is null ? null : Array.Find(current.GetProperties(BindingFlags.Public | BindingFlags.Instance), p =>
                string.Equals(p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(p.Name), name, StringComparison.Ordinal));
            current = property?.PropertyType;
            for (int index = segment.Count(c => c == '['); index > 0 && current is not null; index--)
            {
                current = ElementOf(Nullable.GetUnderlyingType(current) ?? current);
            }

            if (current is null)
            {
                return null;
            }
        }

        return current;
    }

    /// <summary>The JSON names of an enum's values, as the service reads and writes them.</summary>
    public static IEnumerable<string> EnumNames(Type enumType) => enumType.GetFields(BindingFlags.Public | BindingFlags.Static).Select(field =>
        field.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name
        ?? (enumType.GetCustomAttribute<JsonConverterAttribute>()?.ConverterType is { IsGenericType: true } converter
            && converter.GetGenericTypeDefinition() == typeof(Uncertainty.Model.Networks.NamedEnumConverter<>)
                ? field.Name
                : JsonNamingPolicy.CamelCase.ConvertName(field.Name)));

    private static string Suggestion(string name, string typeName)
    {
        var known = FindType(typeName) is { } type ? FieldNames(type).ToList() : [];
        var closest = known.Select(k => (Name: k, Distance: Distance(name.ToLowerInvariant(), k.ToLowerInvariant()))).Where(k => k.Distance <= 2).OrderBy(k => k.Distance).FirstOrDefault();
        return closest.Name is { } suggestion ? $" (did you mean '{suggestion}'?)" : known.Count > 0 ? $" (known fields: {string.Join(", ", known)})" : "";
    }

    private static IEnumerable<string> FieldNames(Type type) => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.GetCustomAttribute<JsonIgnoreAttribute>() is not { Condition: JsonIgnoreCondition.Always } && p.CanWrite)
        .Select(p => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.CamelCase.ConvertName(p.Name));

    private static int Distance(string a, string b)
    {
        var previous = Enumerable.Range(0, b.Length + 1).ToArray();
        for (int i = 1; i <= a.Length; i++)
        {
            var current = new int[b.Length + 1];
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            }

            previous = current;
        }

        return previous[b.Length];
    }

    /// <summary>A type of the service's or the framework's assemblies by its full name (the JSON messages name them); null for others.</summary>
    private static Type? FindType(string fullName) => fullName.StartsWith("Uncertainty.", StringComparison.Ordinal) || fullName.StartsWith("System.", StringComparison.Ordinal)
        ? AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => a.GetName().Name is { } name && (name.StartsWith("Uncertainty.", StringComparison.Ordinal) || name.StartsWith("System.", StringComparison.Ordinal)))
            .Select(a => a.GetType(fullName, throwOnError: false))
            .FirstOrDefault(t => t is not null)
        : null;

    private static string FieldOf(string? path) => path is null or "$" ? "" : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    private static string Join(string path, string name) => path.Length == 0 ? name : $"{path}.{name}";

    /// <summary>A C# type as the binder writes it ("int?", "Nullable`1[UInt64]") as a CLR type name.</summary>
    private static string CSharpToClr(string type) => NullableOf().Match(type) is { Success: true } nullable ? CSharpToClr(nullable.Groups["inner"].Value) : type.TrimEnd('?') switch
    {
        "int" or "Int32" => "System.Int32",
        "long" or "Int64" => "System.Int64",
        "ulong" or "UInt64" => "System.UInt64",
        "uint" or "UInt32" => "System.UInt32",
        "double" or "Double" => "System.Double",
        "float" or "Single" => "System.Single",
        "decimal" or "Decimal" => "System.Decimal",
        "bool" or "Boolean" => "System.Boolean",
        "string" or "String" => "System.String",
        var other => other,
    };

    [GeneratedRegex(@"The JSON property '(?<name>.*)' could not be mapped to any \.NET member contained in type '(?<type>[^']*)'")]
    private static partial Regex Unmapped();

    [GeneratedRegex(@"The JSON value could not be converted to (?<type>.+?)\. Path:")]
    private static partial Regex Converted();

    [GeneratedRegex(@"Duplicate propert(?:y '(?<name>[^']*)'|ies not allowed)")]
    private static partial Regex Duplicate();

    [GeneratedRegex(@"was missing required properties(?: including)?: (?<names>.*?)\.?$")]
    private static partial Regex MissingRequired();

    [GeneratedRegex(@"^(?:System\.)?Nullable(?:`1\[|<)(?<inner>.*)[\]>]$")]
    private static partial Regex NullableOf();

    [GeneratedRegex(@"\b(?:System|Uncertainty|Microsoft)\.[\w.`+]+(?:\[[^\]]*\])?")]
    private static partial Regex TypeName();

    [GeneratedRegex(@"Failed to bind parameter ""(?<type>.+) (?<name>\w+)"" from ""(?<value>.*)""")]
    private static partial Regex FailedToBind();

    [GeneratedRegex(@"Required parameter ""(?<type>.+) (?<name>\w+)"" was not provided from (?<source>\w+)")]
    private static partial Regex RequiredParameter();

    [GeneratedRegex(@"Implicit body inferred for parameter")]
    private static partial Regex ImplicitBody();
}
