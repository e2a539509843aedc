using System.Text.Json;
using Uncertainty.Model.Networks;
using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Predictions;

/// <summary>Checks a prediction request against the model and the limits; each problem is keyed by the JSON path of its field.</summary>
public static class PredictRequestValidator
{
    private const int MaxErrors = 20;

    // x0, x1, ... for models without feature names, made once per width rather than per request.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, string[]> DefaultNames = new();

    public const double MaxIntervalLevel = 1 - 1e-9;

    /// <summary>The problems with <paramref name="request"/>, and its rows as model-ordered raw values when there are none.</summary>
    public static (Dictionary<string, string[]> Errors, float[] Values) Validate(PredictRequest request, ModelDescription model, UncertaintyOptions limits)
    {
        var errors = new Dictionary<string, string[]>();
        var features = model.Network.Inputs;
        var values = Array.Empty<float>();
        if (request.Inputs is null || request.Inputs.Length == 0)
        {
            errors["inputs"] = [$"Provide at least one row of {features} feature values."];
        }
        else if (request.Inputs.Length > limits.MaxRowsPerRequest)
        {
            errors["inputs"] = [$"At most {limits.MaxRowsPerRequest} rows per request; got {request.Inputs.Length}."];
        }
        else
        {
            values = new float[request.Inputs.Length * features];
            var names = model.FeatureNames ?? DefaultNames.GetOrAdd(features, count => [.. Enumerable.Range(0, count).Select(i => $"x{i}")]);
            var shape = model.Network.ResolvedInputShape;
            for (int r = 0; r < request.Inputs.Length && errors.Count < MaxErrors; r++)
            {
                if (model.Network.IsSequence)
                {
                    ReadSequence(request.Inputs[r], $"inputs[{r}]", model, values.AsSpan(r * features, features), errors);
                }
                else if (shape.Count > 1)
                {
                    ReadShaped(request.Inputs[r], $"inputs[{r}]", shape, values.AsSpan(r * features, features), errors);
                }
                else
                {
                    ReadRow(request.Inputs[r], $"inputs[{r}]", names, values.AsSpan(r * features, features), errors);
                }
            }
        }

        Seeds.Check(request.Seed, "seed", errors);
        if (request.Samples is { } samples && (samples < 1 || samples > limits.MaxSamples))
        {
            errors["samples"] = [$"samples must be between 1 and {limits.MaxSamples}; got {samples}."];
        }

        if (request.ReturnSamples && request.Mode != PredictionMode.Deterministic && request.Inputs is { Length: > 0 } rows
            && (long)rows.Length * (request.Samples ?? PredictionService.DefaultSamples) * model.Network.Head.Outputs > limits.MaxReturnedSampleValues)
        {
            errors["returnSamples"] = [$"Returning every pass's outputs here means {(long)rows.Length * (request.Samples ?? PredictionService.DefaultSamples) * model.Network.Head.Outputs:N0} values; at most {limits.MaxReturnedSampleValues:N0} (Uncertainty:MaxReturnedSampleValues). Ask for fewer rows or samples."];
        }

        // 1 - 1e-9 keeps the normal quantile (about 6.1) finite: closer to 1 it overflows to infinity.
        if (request.IntervalLevel is { } level && !(level > 0 && level <= MaxIntervalLevel))
        {
            errors["intervalLevel"] = [$"intervalLevel must be in (0, {MaxIntervalLevel}]; got {level}."];
        }

        if (request.Tolerance is { } tolerance && !(tolerance > 0 && double.IsFinite(tolerance)))
        {
            errors["tolerance"] = [$"tolerance must be a positive number; got {tolerance}."];
        }

        if (request.Interval == IntervalMethod.Quantile)
        {
            if (model.Network.Head.Kind == HeadKind.Classification)
            {
                errors["interval"] = ["Quantile intervals are for regression models; this model is a classifier (its probabilities have no interval)."];
            }
            else if (request.Mode != PredictionMode.Deterministic && request.Inputs is { Length: > 0 } quantileRows
                && (long)quantileRows.Length * (request.Samples ?? PredictionService.DefaultSamples) * model.Network.Head.Outputs is var kept
                && kept > limits.MaxQuantileIntervalValues)
            {
                errors["interval"] = [$"Quantile intervals keep every pass's outputs: {kept:N0} values here; at most {limits.MaxQuantileIntervalValues:N0} (Uncertainty:MaxQuantileIntervalValues). Ask for fewer rows or samples, or the gaussian interval."];
            }
        }

        return (errors, values);
    }

    /// <summary>One row, as an array in feature order or an object keyed by feature name, into <paramref name="row"/>.</summary>
    private static void ReadRow(JsonElement element, string path, IReadOnlyList<string> names, Span<float> row, Dictionary<string, string[]> errors)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Array:
                if (element.GetArrayLength() != names.Count)
                {
                    errors[path] = [$"Expected {names.Count} feature values, got {element.GetArrayLength()}."];
                    return;
                }

                int c = 0;
                foreach (var cell in element.EnumerateArray())
                {
                    ReadValue(cell, path, c, out row[c], errors);
                    c++;
                }

                return;

            case JsonValueKind.Object:
                var seen = new bool[names.Count];
                if (element.EnumerateObject().Any(property => !TryGetName(property, out _)))
                {
                    errors[path] = [InvalidUnicode("A feature name")];
                    return;
                }

                foreach (var property in element.EnumerateObject())
                {
                    var index = IndexOf(names, property.Name);
                    if (index < 0)
                    {
                        errors[$"{path}.{property.Name}"] = [$"Unknown feature '{property.Name}'; the model's features are {string.Join(", ", names)}."];
                        continue;
                    }

                    if (seen[index])
                    {
                        errors[$"{path}.{property.Name}"] = [$"Feature '{property.Name}' is given twice."];
                        continue;
                    }

                    seen[index] = true;
                    ReadValue(property.Value, path, property.Name, out row[index], errors);
                }

                var missing = names.Where((_, i) => !seen[i]).ToList();
                if (missing.Count > 0)
                {
                    errors[path] = [$"Missing feature{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}."];
                }

                return;

            default:
                errors[path] = [$"A row is an array of {names.Count} numbers or an object keyed by feature name, not {element.ValueKind.ToString().ToLowerInvariant()}."];
                return;
        }
    }

    /// <summary>
    /// A row of a model whose input has a shape ([channels, height, width] for images): nested arrays in that shape, or one
    /// flat array of all its values in row-major order.
    /// </summary>
    private static void ReadShaped(JsonElement element, string path, IReadOnlyList<int> shape, Span<float> row, Dictionary<string, string[]> errors)
    {
        var expected = $"nested arrays of shape [{string.Join(", ", shape)}] or a flat array of {row.Length} numbers";
        if (element.ValueKind != JsonValueKind.Array)
        {
            errors[path] = [$"A row is {expected}, not {element.ValueKind.ToString().ToLowerInvariant()}."];
            return;
        }

        if (element.GetArrayLength() == row.Length && (row.Length != shape[0] || element.EnumerateArray().All(cell => cell.ValueKind != JsonValueKind.Array)))
        {
            int c = 0;
            foreach (var cell in element.EnumerateArray())
            {
                ReadValue(cell, path, c, out row[c], errors);
                c++;
            }

            return;
        }

        int offset = 0;
        ReadNested(element, path, shape, 0, row, ref offset, errors, expected);
    }

    /// <summary>The problem of a string JSON can carry but .NET cannot: a lone surrogate escape (\ud800) or invalid UTF-8.</summary>
    internal static string InvalidUnicode(string what) => $"{what} is not valid Unicode (a lone surrogate escape such as \\ud800, or invalid UTF-8).";

    /// <summary><see cref="JsonProperty.Name"/>, or false where the name is not valid Unicode (it throws there).</summary>
    internal static bool TryGetName(JsonProperty property, out string name)
    {
        try
        {
            name = property.Name;
            return true;
        }
        catch (InvalidOperationException)
        {
            name = "";
            return false;
        }
    }

    /// <summary><see cref="JsonElement.GetString"/>, or false where the string is not valid Unicode (it throws there).</summary>
    internal static bool TryGetString(JsonElement element, out string value)
    {
        try
        {
            value = element.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            value = "";
            return false;
        }
    }

    /// <summary>
    /// A row of a sequence model, of any length from 1 to the model's L, padded here: token ids (or, with a stored tokenizer,
    /// a string) padded with id 0; [steps][features] values padded with NaN steps, which the network reads as padding.
    /// </summary>
    private static void ReadSequence(JsonElement element, string path, ModelDescription model, Span<float> row, Dictionary<string, string[]> errors)
    {
        var shape = model.Network.ResolvedInputShape;
        int length = shape[0];
        if (model.Network.IsTokenSequence)
        {
            int vocabulary = model.Network.ResolvedLayers[0].Vocab!.Value;
            if (element.ValueKind == JsonValueKind.String && model.Text is { } text)
            {
                // JSON can escape a lone surrogate ("\ud800") that no .NET string can hold: GetString throws on it.
                if (!TryGetString(element, out var value))
                {
                    errors[path] = [InvalidUnicode("The text")];
                    return;
                }

                var ids = text.Encode(value, length);
                if (ids.Length == 0)
                {
                    errors[path] = ["The text has no words; send at least one."];
                    return;
                }

                for (int t = 0; t < ids.Length; t++)
                {
                    row[t] = ids[t];
                }

                return;
            }

            var what = model.Text is null ? $"an array of 1 to {length} token ids in [1, {vocabulary - 1}]" : $"a string, or an array of 1 to {length} token ids in [1, {vocabulary - 1}]";
            if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() is var count && (count < 1 || count > length))
            {
                var found = element.ValueKind == JsonValueKind.Array ? $"{element.GetArrayLength()} ids" : element.ValueKind.ToString().ToLowerInvariant();
                errors[path] = [$"A row is {what}; got {found}."];
                return;
            }

            int i = 0;
            foreach (var cell in element.EnumerateArray())
            {
                if (cell.ValueKind != JsonValueKind.Number || !cell.TryGetInt32(out var id) || id < 1 || id >= vocabulary)
                {
                    errors[$"{path}[{i}]"] = [$"Token ids are integers in [1, {vocabulary - 1}] (0 is padding)."];
                    return;
                }

                row[i++] = id;
            }

            return;
        }

        // [steps][features], 1 to L steps; a flat array of all L x F values is read as it is.
        int features = shape[^1];
        if (element.ValueKind == JsonValueKind.Array && element.GetArrayLength() == row.Length && element.EnumerateArray().All(cell => cell.ValueKind != JsonValueKind.Array))
        {
            ReadShaped(element, path, shape, row, errors);
            return;
        }

        if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() is var steps && (steps < 1 || steps > length))
        {
            var found = element.ValueKind == JsonValueKind.Array ? $"{element.GetArrayLength()} steps" : element.ValueKind.ToString().ToLowerInvariant();
            errors[path] = [$"A row is an array of 1 to {length} steps of {features} values each ([steps][{features}]); got {found}."];
            return;
        }

        int offset = 0, step = 0;
        foreach (var item in element.EnumerateArray())
        {
            ReadNested(item, $"{path}[{step++}]", [features], 0, row, ref offset, errors, $"an array of {features} numbers per step");
            if (errors.Count >= MaxErrors)
            {
                return;
            }
        }

        row[offset..].Fill(float.NaN);
    }

    private static void ReadNested(JsonElement element, string path, IReadOnlyList<int> shape, int dimension, Span<float> row, ref int offset, Dictionary<string, string[]> errors, string expected)
    {
        if (element.ValueKind != JsonValueKind.Array || element.GetArrayLength() != shape[dimension])
        {
            var found = element.ValueKind == JsonValueKind.Array ? $"{element.GetArrayLength()} entries" : element.ValueKind.ToString().ToLowerInvariant();
            errors[path] = [$"Expected {shape[dimension]} entries along dimension {dimension} of [{string.Join(", ", shape)}], got {found}; a row is {expected}."];
            return;
        }

        int i = 0;
        foreach (var item in element.EnumerateArray())
        {
            if (errors.Count >= MaxErrors)
            {
                return;
            }

            if (dimension == shape.Count - 1)
            {
                ReadValue(item, path, i, out row[offset++], errors);
            }
            else
            {
                ReadNested(item, $"{path}[{i}]", shape, dimension + 1, row, ref offset, errors, expected);
            }

            i++;
        }
    }

    /// <summary>The cell at <paramref name="row"/>[<paramref name="index"/>]; its path is only spelt out for an error (a valid cell allocates nothing).</summary>
    private static void ReadValue(JsonElement cell, string row, int index, out float value, Dictionary<string, string[]> errors)
    {
        if (ReadValue(cell, out value) is { } problem)
        {
            errors[$"{row}[{index}]"] = [problem];
        }
    }

    /// <summary>The cell under feature <paramref name="name"/> of <paramref name="row"/>.</summary>
    private static void ReadValue(JsonElement cell, string row, string name, out float value, Dictionary<string, string[]> errors)
    {
        if (ReadValue(cell, out value) is { } problem)
        {
            errors[$"{row}.{name}"] = [problem];
        }
    }

    /// <summary>A finite single-precision number, or what is wrong with the cell.</summary>
    private static string? ReadValue(JsonElement cell, out float value)
    {
        value = 0;
        if (cell.ValueKind != JsonValueKind.Number)
        {
            return $"Feature values are JSON numbers, not {cell.ValueKind.ToString().ToLowerInvariant()} (NaN and infinity are not accepted).";
        }

        if (!cell.TryGetDouble(out var number) || !double.IsFinite(number) || Math.Abs(number) > float.MaxValue)
        {
            return "Feature values must be finite numbers within single-precision range.";
        }

        value = (float)number;
        return null;
    }

    private static int IndexOf(IReadOnlyList<string> names, string name)
    {
        for (int i = 0; i < names.Count; i++)
        {
            if (string.Equals(names[i], name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
