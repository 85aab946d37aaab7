using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace BuildGrid.Core.Hosting;

/// <summary>
/// Kestrel's memory pool with 64 KiB blocks instead of its default 4 KiB. The socket transport reads into the free part
/// of one block at a time, so with 4 KiB blocks a <c>recv</c> moved 2 KiB on average: a 64 MB push took 33,000 system
/// calls. With 64 KiB blocks it takes 2,000 (strace), and the server's CPU per GB pushed falls by 10–30%.
/// </summary>
/// <remarks>
/// Like Kestrel's own pool, blocks are arrays on the pinned object heap (sockets use them without pinning, and they never
/// fragment the ordinary heap), and freed blocks are kept for reuse, up to <see cref="MaxPooledBlocks"/> (32 MiB); beyond
/// that they are left to the collector. Each rental is its own owner object, so a block is returned at most once.
/// </remarks>
public sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;
    const int MaxPooledBlocks = 512;

    readonly ConcurrentQueue<byte[]> free = new();
    int freeCount;

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (free.TryDequeue(out var block))
            Interlocked.Decrement(ref freeCount);
        else
            block = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
        return new Rental(this, block);
    }

    void Return(byte[] block)
    {
        if (Interlocked.Increment(ref freeCount) <= MaxPooledBlocks)
            free.Enqueue(block);
        else
            Interlocked.Decrement(ref freeCount);
    }

    protected override void Dispose(bool disposing)
    {
        while (free.TryDequeue(out _)) { }
    }

    sealed class Rental(LargeBlockMemoryPool pool, byte[] block) : IMemoryOwner<byte>
    {
        byte[]? block = block;

        public Memory<byte> Memory => block is { } b ? MemoryMarshal.CreateFromPinnedArray(b, 0, b.Length) : throw new ObjectDisposedException(nameof(Rental));

        public void Dispose()
        {
            if (Interlocked.Exchange(ref block, null) is { } returned)
                pool.Return(returned);
        }
    }

    /// <summary>Registered in DI, it replaces the pool of Kestrel and its socket transport.</summary>
    public sealed class Factory : IMemoryPoolFactory<byte>
    {
        public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
    }
}
