"""The seed's 调度同步方法 example, verbatim except ``add_job``'s positional-after-keyword slip."""

from fastflyer import background_scheduler


@background_scheduler.lock()  # 加入分布式锁机制，同一时刻只能运行一次，需要配置 redis 信息
def customfunc():
    print("hello world!")


background_scheduler.add_job(customfunc, "interval", seconds=5, id="customjob")
