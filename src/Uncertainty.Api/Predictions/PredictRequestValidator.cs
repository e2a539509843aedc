using Uncertainty.Model.Packaging;

namespace Uncertainty.Api.Predictions;

/// <summary>Checks a prediction request against the model and the limits; each problem is keyed by the JSON path of its field.</summary>
public static class PredictRequestValidator
{
    private const int MaxErrors = 20;

    public static Dictionary<string, string[]> Validate(PredictRequest request, ModelDescription model, UncertaintyOptions limits)
    {
        var errors = new Dictionary<string, string[]>();
        var features = model.Network.Inputs;
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
            for (int r = 0; r < request.Inputs.Length && errors.Count < MaxErrors; r++)
            {
                var row = request.Inputs[r];
                if (row is null || row.Length != features)
                {
                    errors[$"inputs[{r}]"] = [$"Expected {features} feature values, got {row?.Length ?? 0}."];
                    continue;
                }

                for (int c = 0; c < row.Length && errors.Count < MaxErrors; c++)
                {
                    if (!double.IsFinite(row[c]) || Math.Abs(row[c]) > float.MaxValue)
                    {
                        errors[$"inputs[{r}][{c}]"] = ["Feature values must be finite numbers within single-precision range."];
                    }
                }
            }
        }

        if (request.Samples is { } samples && (samples < 1 || samples > limits.MaxSamples))
        {
            errors["samples"] = [$"samples must be between 1 and {limits.MaxSamples}; got {samples}."];
        }

        if (request.IntervalLevel is { } level && !(level > 0 && level < 1))
        {
            errors["intervalLevel"] = [$"intervalLevel must be in (0, 1); got {level}."];
        }

        if (request.Tolerance is { } tolerance && !(tolerance > 0 && double.IsFinite(tolerance)))
        {
            errors["tolerance"] = [$"tolerance must be a positive number; got {tolerance}."];
        }

        return errors;
    }
}
