"""The seed's 调度异步方法 example, verbatim except ``add_job``'s positional-after-keyword slip."""

from fastflyer import asyncio_scheduler


@asyncio_scheduler.lock()  # 加入分布式锁机制，同一时刻只能运行一次，需要配置 redis 信息
async def customfunc():
    print("hello world!")


asyncio_scheduler.add_job(customfunc, "interval", seconds=5, id="customjob")
