namespace Uncertainty.Api.Problems;

/// <summary>
/// A failure the service answers with a problem response. Each kind has one status, given in
/// <see cref="ProblemMap"/>: handlers throw these and never pick status codes themselves.
/// </summary>
public abstract class ServiceException(string title, string detail, Exception? inner = null) : Exception(detail, inner)
{
    public string Title { get; } = title;
}

/// <summary>400: the request itself is wrong; each problem is keyed by the field it is about.</summary>
public sealed class RequestValidationException(IDictionary<string, string[]> errors)
    : ServiceException("One or more validation errors occurred.", string.Join(" ", errors.SelectMany(e => e.Value)))
{
    public RequestValidationException(string field, string message)
        : this(new Dictionary<string, string[]> { [field] = [message] })
    {
    }

    public IDictionary<string, string[]> Errors { get; } = errors;
}

/// <summary>404: no such model, version or job.</summary>
public sealed class NotFoundException(string title, string detail) : ServiceException(title, detail);

/// <summary>403: the request is understood and refused (a read-only replica, a key without the scope).</summary>
public sealed class ForbiddenException(string title, string detail) : ServiceException(title, detail);

/// <summary>409: the request conflicts with the current state (the default version, a schema, a finished job).</summary>
public sealed class ConflictException(string title, string detail) : ServiceException(title, detail);

/// <summary>413: the body, or what it would make the service hold, is over a configured limit.</summary>
public sealed class PayloadTooLargeException(string title, string detail) : ServiceException(title, detail);

/// <summary>415: the body's media type or format is not one this endpoint reads.</summary>
public sealed class UnsupportedMediaTypeException(string title, string detail) : ServiceException(title, detail);

/// <summary>422: well-formed, but cannot be done (weights that do not fit, a spec over a resource limit).</summary>
public sealed class UnprocessableException(string title, string detail, Exception? inner = null) : ServiceException(title, detail, inner);

/// <summary>429 with Retry-After: a queue is full.</summary>
public sealed class QueueFullException(string detail, int retryAfterSeconds = 1) : ServiceException("Too many requests", detail)
{
    public int RetryAfterSeconds { get; } = retryAfterSeconds;
}

/// <summary>503 with Retry-After: the service is starting or shutting down and takes no new work.</summary>
public sealed class ServiceUnavailableException(string title, string detail, int retryAfterSeconds = 5) : ServiceException(title, detail)
{
    public int RetryAfterSeconds { get; } = retryAfterSeconds;
}

/// <summary>503 without Retry-After: this model version cannot be loaded; retrying will not help until an operator acts.</summary>
public sealed class ModelUnavailableException(string name, int version, string reason)
    : ServiceException("Model version cannot be loaded", $"Model '{name}' version {version} cannot be loaded: {reason}")
{
    public string Reason { get; } = reason;
}

/// <summary>504: the work did not finish within its server-side time limit and was stopped.</summary>
public sealed class WorkTimeoutException(string detail) : ServiceException("Timed out", detail);

/// <summary>422: the model's output for this input is not finite (the input drives it past float range).</summary>
public sealed class NonFiniteOutputException(string detail = "The model's output for this input is not finite (NaN or infinity); the input is outside the range the model can represent.")
    : ServiceException("Model output is not finite", detail);
