import { Global, Module } from '@nestjs/common';
import { BotMetrics } from './bot-metrics.js';

/** The process's one BotMetrics, for every module to record into (see bot-metrics.ts). */
@Global()
@Module({
  providers: [{ provide: BotMetrics, useFactory: () => new BotMetrics() }],
  exports: [BotMetrics],
})
export class MetricsModule {}
