using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace BuildGrid.Tests.Infrastructure;

/// <summary>Collects Error-and-above log entries of a host, so tests can assert that nothing failed behind an answer.</summary>
public sealed class ErrorLog : ILoggerProvider
{
    readonly ConcurrentQueue<string> entries = new();

    public IReadOnlyCollection<string> Entries => entries;
    public bool TryTake(out string entry) => entries.TryDequeue(out entry!);

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, entries);
    public void Dispose() { }

    sealed class Logger(string category, ConcurrentQueue<string> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
                entries.Enqueue($"{category}: {formatter(state, exception)} {exception}");
        }
    }
}
